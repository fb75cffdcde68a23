'use strict'
// Zero-code tracing on the plain fixture (test/fixtures/plain), an addon
// that knows nothing of the engine: rebinding before init, the model per
// item, statuses and values exactly as Node gives them, the requester's
// AsyncLocalStorage store, turning it off mid-flight, Workers, teardown.
const test = require('node:test')
const assert = require('node:assert/strict')
const { buildPlain, scenario, nodeMajor } = require('./addons-helpers')

const plain = JSON.stringify(buildPlain())
const WRAPPED = ['napi_create_async_work', 'napi_queue_async_work', 'napi_delete_async_work',
  'napi_create_threadsafe_function', 'napi_call_threadsafe_function', 'napi_get_threadsafe_function_context']

const tick = 'await new Promise((r) => setImmediate(r))'

test('an addon loaded after enable is rebound before its init runs: the work init queues is traced', () => {
  const body = `
    const p = require(${plain})
    while (p.counts().initDone === 0) ${tick}
    ${tick}
    done({ addons: nat.addons(), init: events().filter((e) => e.site === 'plain:init').map((e) => e.event) })`
  const on = scenario(body).result
  const entry = on.addons.find((a) => a.module === 'plain')
  assert.ok(entry, JSON.stringify(on.addons))
  assert.equal(entry.status, 'OK')
  assert.equal(entry.when, 'load')
  assert.equal(entry.active, true)
  assert.deepEqual(Object.keys(entry.imports).sort(), [...WRAPPED].sort())
  for (const name of WRAPPED) assert.equal(entry.imports[name].rebound + entry.imports[name].already >= 1, true, name)
  assert.deepEqual(on.init, ['link', 'ready', 'executionBegin', 'link', 'ready', 'executionEnd', 'executionBegin', 'executionEnd'])
  // The control: without addons the same program records none of it.
  const off = scenario(body, { addons: false }).result
  assert.deepEqual(off.addons, [])
  assert.deepEqual(off.init, [])
})

test('an addon loaded before enable is rebound by enable, and lists as such', () => {
  const { result } = scenario(`
    const p = require(${plain})
    nat.enable({ addons: true })
    const before = events().length
    await new Promise((r) => p.work('late', r, 10, false))
    done({ addons: nat.addons(), late: events().slice(before).filter((e) => e.site === 'plain:late').length })`, { addons: false })
  const entry = result.addons.find((a) => a.module === 'plain')
  assert.equal(entry.status, 'OK')
  assert.equal(entry.when, 'enable')
  assert.equal(result.late, 8)
})

// The same program with and without the interposer must see the same
// statuses and values. UV_THREADPOOL_SIZE=1 and a long first job make the
// cancel deterministic.
const SAME_BODY = `
  const p = require(${plain})
  const out = {}
  out.bad = p.badWork()
  const long = new Promise((r) => p.work('long', r, 2e8, false))
  const cancelled = new Promise((r) => { out.cancel = p.work('job', r, 10, true) })
  out.cancelStatus = await cancelled
  out.longStatus = await long
  out.closed = p.closedCall()
  out.native = await new Promise((r) => { const got = []; p.feed((v, ok) => { got.push([v, ok]); if (got.length === 5) r(got) }, 5, false, false, false) })
  out.js = await new Promise((r) => { const got = []; p.feed((v, ok) => { got.push([v, ok]); if (got.length === 3) r(got) }, 3, false, true, false) })
  out.defaultArgs = await new Promise((r) => p.feed((...a) => r(a.length), 1, false, false, true))
  const delivered = []
  p.feed((v) => delivered.push(v), 6, true, true, false)
  while (p.counts().finalized < 5) ${tick}
  await new Promise((r) => setTimeout(r, 20))
  out.aborted = { delivered, counts: p.counts() }
  done(out)`

test('statuses, values, the addon\'s own context and teardown calls are what Node gives', () => {
  const env = { UV_THREADPOOL_SIZE: '1' }
  const off = scenario(SAME_BODY, { addons: false, env }).result
  const on = scenario(SAME_BODY, { addons: true, env }).result
  assert.deepEqual(on, off)
  // And what Node gives is what the fixture expects, so the comparison is
  // not between two broken runs.
  assert.equal(on.bad, 1) // napi_invalid_arg
  assert.equal(on.cancel, 0)
  assert.equal(on.cancelStatus, 11) // napi_cancelled
  assert.equal(on.longStatus, 0)
  assert.equal(on.closed, 16) // napi_closing
  assert.deepEqual(on.native, [[0, true], [1, true], [2, true], [3, true], [4, true]])
  assert.deepEqual(on.js, [[0, true], [1, true], [2, true]])
  assert.equal(on.defaultArgs, 0)
  // Aborted with 6 items queued: none delivered, each handed to call_js
  // with env == NULL, with the addon's own data and context.
  assert.deepEqual(on.aborted.delivered, [])
  assert.equal(on.aborted.counts.nullCalls, 6)
  assert.equal(on.aborted.counts.nullCallsOk, 6)
})

test('async work: link in the JS frame, a pool frame around execute, complete in a JS frame after it', () => {
  const { result } = scenario(`
    const p = require(${plain})
    const site = nat.marks.site('test:request')
    const frame = nat.marks.begin(site, 0)
    let completeFrame = -1
    const finished = new Promise((r) => p.work('job', () => { completeFrame = nat.marks.current(); r() }, 1000, false))
    nat.marks.end(frame)
    await finished
    ${tick}
    const ev = events()
    const g = nat.graph(ev)
    done({ frame, completeFrame, job: ev.filter((e) => e.site === 'plain:job'),
      stack: g.stack(completeFrame).map((s) => [s.kind, s.site || null, s.thread]),
      pending: g.pending().filter((x) => x.site === 'plain:job').length, main: ev.find((e) => e.site === 'test:request').thread })`)
  const { frame, completeFrame, job, main } = result
  const kinds = job.map((e) => e.event)
  assert.deepEqual(kinds, ['link', 'ready', 'executionBegin', 'link', 'ready', 'executionEnd', 'executionBegin', 'executionEnd'])
  const [l1, r1, b1, l2, r2, e1, b2, e2] = job
  assert.equal(l1.executeID, frame)
  assert.equal(l1.thread, main)
  assert.equal(r1.linkID, l1.linkID)
  assert.equal(r1.executeID, 0)
  assert.notEqual(r1.thread, main)
  assert.equal(b1.readyID, r1.readyID)
  assert.equal(b1.thread, r1.thread)
  assert.equal(l2.executeID, b1.executeID)
  assert.equal(r2.linkID, l2.linkID)
  assert.equal(r2.executeID, b1.executeID)
  assert.equal(e1.executeID, b1.executeID)
  assert.equal(b2.readyID, r2.readyID)
  assert.equal(b2.thread, main)
  assert.equal(b2.executeID, completeFrame)
  assert.equal(e2.executeID, completeFrame)
  // One connected async stack: complete -> pool frame -> the request -> root.
  assert.deepEqual(result.stack.filter((s) => s[0] === 'frame' || s[0] === 'root').map((s) => s[1]),
    ['plain:job', 'plain:job', 'test:request', null])
  assert.equal(result.pending, 0)
})

test('a cancelled run is reported as aborted, not pending', () => {
  const { result } = scenario(`
    const p = require(${plain})
    const long = new Promise((r) => p.work('long', r, 2e8, false))
    const status = await new Promise((r) => p.work('job', r, 10, true))
    await long
    ${tick}
    const g = nat.graph(events())
    done({ status, aborted: g.aborted().filter((x) => x.site === 'plain:job').length,
      pending: g.pending().filter((x) => x.site === 'plain:job').length })`, { env: { UV_THREADPOOL_SIZE: '1' } })
  assert.equal(result.status, 11)
  assert.equal(result.aborted, 1)
  assert.equal(result.pending, 0)
})

test('threadsafe functions: link + ready per call, a frame per call_js, attributed to the creator or the caller', () => {
  const { result } = scenario(`
    const p = require(${plain})
    const site = nat.marks.site('test:request')
    let frames = []
    const created = nat.marks.begin(site, 0)
    const fromNative = new Promise((r) => p.feed(() => { frames.push(nat.marks.current()); if (frames.length === 3) r() }, 3, false, false, false))
    nat.marks.end(created)
    await fromNative
    const nativeFrames = frames
    frames = []
    const caller = nat.marks.begin(site, 0)
    const fromJs = new Promise((r) => p.feed(() => { frames.push(nat.marks.current()); if (frames.length === 2) r() }, 2, false, true, false))
    nat.marks.end(caller)
    await fromJs
    ${tick}
    const ev = events()
    const g = nat.graph(ev)
    done({ created, caller, nativeFrames, jsFrames: frames, feed: ev.filter((e) => e.site === 'plain:feed'),
      stacks: nativeFrames.concat(frames).map((f) => g.stackSites(f)), main: ev.find((e) => e.site === 'test:request').thread })`)
  const { created, caller, feed, main } = result
  const links = feed.filter((e) => e.event === 'link')
  const readies = feed.filter((e) => e.event === 'ready')
  const begins = feed.filter((e) => e.event === 'executionBegin')
  assert.equal(links.length, 5)
  assert.equal(readies.length, 5)
  assert.equal(begins.length, 5)
  // Native thread: linked in the frame that created the function, made
  // ready by 0 on that thread.
  for (const l of links.slice(0, 3)) {
    assert.equal(l.executeID, created)
    assert.notEqual(l.thread, main)
    const r = readies.find((x) => x.linkID === l.linkID)
    assert.equal(r.executeID, 0)
    assert.equal(r.thread, l.thread)
  }
  // JS thread: linked and made ready in the calling frame.
  for (const l of links.slice(3)) {
    assert.equal(l.executeID, caller)
    assert.equal(l.thread, main)
    assert.equal(readies.find((x) => x.linkID === l.linkID).executeID, caller)
  }
  // Each call_js is a frame of its own, for its own ready.
  assert.deepEqual(begins.map((b) => b.executeID), result.nativeFrames.concat(result.jsFrames))
  for (const b of begins) assert.equal(b.thread, main)
  for (const s of result.stacks) assert.deepEqual(s, ['plain:feed', 'test:request', 'root'])
})

test('the requester\'s AsyncLocalStorage store reaches complete and call_js (lost without the interposer on Node 24+)', () => {
  const body = `
    const p = require(${plain})
    const out = {}
    out.work = await als.run('work', () => new Promise((r) => p.work('job', () => r(als.getStore()), 10, false)))
    out.native = await als.run('native', () => new Promise((r) => p.feed(() => r(als.getStore()), 1, false, false, false)))
    out.js = await als.run('js', () => new Promise((r) => p.feed(() => r(als.getStore()), 1, false, true, false)))
    out.nested = await als.run('outer', () => new Promise((r) => p.work('job', () => als.run('inner', () => p.work('job', () => r(als.getStore()), 10, false)), 10, false)))
    done(out)`
  const on = scenario(body).result
  assert.deepEqual(on, { work: 'work', native: 'native', js: 'js', nested: 'inner' })
  const off = scenario(body, { addons: false }).result
  if (nodeMajor >= 24) {
    // AsyncContextFrame: Node's own callback scopes lose the store.
    assert.equal(off.work, undefined)
    assert.equal(off.native, undefined)
  } else {
    assert.deepEqual(off, on)
  }
})

test('an exception thrown by the JS callback the addon calls reaches the process as without the interposer', () => {
  // Node reports an exception from complete as uncaught; one from call_js
  // as uncaught or (Node 20, DEP0168) as a warning: either way the same with
  // and without the interposer.
  const body = `
    const p = require(${plain})
    const seen = []
    process.on('uncaughtException', (err) => seen.push('uncaught: ' + err.message))
    process.on('warning', (w) => seen.push('warning: ' + w.code))
    p.work('job', () => { throw new Error('from complete') }, 10, false)
    await new Promise((r) => setTimeout(r, 50))
    p.feed(() => { throw new Error('from call_js') }, 1, false, false, false)
    await new Promise((r) => setTimeout(r, 50))
    const after = await new Promise((r) => p.work('job', () => r('still works'), 10, false))
    await new Promise((r) => setTimeout(r, 10))
    done({ seen, after })`
  const on = scenario(body).result
  assert.equal(on.after, 'still works')
  assert.equal(on.seen[0], 'uncaught: from complete')
  assert.equal(on.seen.length, 2)
  assert.deepEqual(scenario(body, { addons: false }).result, on)
})

test('enable({ addons: false }) mid-flight: the slots go back, items in flight still arrive once, in order', () => {
  const { result } = scenario(`
    const p = require(${plain})
    const got = []
    let restored = null
    await new Promise((r) => p.feed((v) => {
      got.push(v)
      if (v === 10) { nat.enable({ addons: false }); restored = nat.addons().find((a) => a.module === 'plain').active }
      if (got.length === 3000) r()
    }, 3000, false, false, false))
    const before = events().length
    const status = await new Promise((r) => p.work('after', r, 10, false))
    done({ inOrder: got.every((v, i) => v === i), n: got.length, restored,
      after: events().slice(before).filter((e) => e.site === 'plain:after').length, status })`)
  assert.equal(result.n, 3000)
  assert.equal(result.inOrder, true)
  assert.equal(result.restored, false)
  assert.equal(result.after, 0) // Node's own functions again: untraced
  assert.equal(result.status, 0)
})

test('recording off: the wrappers pass straight through, nothing is recorded, everything works', () => {
  const { result } = scenario(`
    const p = require(${plain})
    nat.disable()
    const before = events().length
    const status = await new Promise((r) => p.work('job', r, 10, false))
    const vals = await new Promise((r) => { const got = []; p.feed((v) => { got.push(v); if (got.length === 3) r(got) }, 3, false, false, false) })
    done({ status, vals, n: events().length - before })`)
  assert.deepEqual(result, { status: 0, vals: [0, 1, 2], n: 0 })
})

test('Workers: each env records its own work; terminating one mid-stream leaves the process well', () => {
  const { result } = scenario(`
    const { Worker } = require('node:worker_threads')
    const code = \`
      const { parentPort } = require('node:worker_threads')
      const nat = require('napi-async-trace')
      nat.enable({ addons: true })
      const p = require(${plain.replace(/"/g, '\\"')})
      p.work('job', () => {
        p.feed((v) => { if (v === 2) parentPort.postMessage(nat.marks.current() > 0 ? 'framed' : 'unframed') }, 3, false, false, false)
      }, 10, false)
      parentPort.once('message', () => p.feed(() => {}, 1e6, false, false, false))\`
    const runs = []
    for (let i = 0; i < 2; i++) {
      const w = new Worker(code, { eval: true })
      const msg = await new Promise((r) => w.once('message', r))
      w.postMessage('stream')
      await new Promise((r) => setTimeout(r, 5))
      await w.terminate()
      runs.push(msg)
    }
    const p = require(${plain})
    const status = await new Promise((r) => p.work('job', r, 10, false))
    const envs = new Set(events().filter((e) => e.site === 'plain:job' && e.event === 'link').map((e) => e.env))
    done({ runs, status, envs: envs.size })`)
  assert.deepEqual(result.runs, ['framed', 'framed'])
  assert.equal(result.status, 0)
  assert.equal(result.envs, 3) // two Workers and the main thread
})

test('napi-async-trace record traces unmodified addons by default; --no-addons does not', () => {
  const { spawnSync } = require('node:child_process')
  const path = require('node:path')
  const os = require('node:os')
  const fs = require('node:fs')
  const { root } = require('./helpers')
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nat-rec-'))
  const app = path.join(dir, 'app.js')
  fs.writeFileSync(app, `const p = require(${plain}); p.work('job', () => p.work('job', () => {}, 10, false), 10, false)\n`)
  const bin = path.join(root, 'bin', 'napi-async-trace.js')
  const frames = (extra) => {
    const out = path.join(dir, 'trace.json')
    const r = spawnSync(process.execPath, [bin, 'record', ...extra, '-o', out, '--', process.execPath, app], { encoding: 'utf8' })
    assert.equal(r.status, 0, r.stderr)
    return Number(/(\d+) frames/.exec(r.stderr)[1])
  }
  try {
    // The preload is on before the app loads the addon: the run init
    // queues and the two runs of 'job', a pool frame and a complete frame
    // each.
    assert.equal(frames([]), 6)
    assert.equal(frames(['--no-addons']), 0)
    // A Worker that is the first to load the addon: its env hooks its own
    // loader too (the run init queues and one run of 'job', 2 frames each).
    fs.writeFileSync(app, `const { Worker } = require('node:worker_threads')
      new Worker(\`const p = require(${plain.replace(/"/g, '\\"')}); p.work('job', () => {}, 10, false)\`, { eval: true })\n`)
    assert.equal(frames([]), 4)
    assert.equal(frames(['--no-addons']), 0)
    // --no-follow takes the variables out of the environment the Worker
    // copies; the Worker still hooks (and still honours --no-addons).
    assert.equal(frames(['--no-follow']), 4)
    assert.equal(frames(['--no-follow', '--no-addons']), 0)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})
