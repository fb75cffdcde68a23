'use strict'
// examples/hash: the example addon (SHA-256 on a native pool, one tracked
// task per hash), through its JS API.
const test = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const path = require('node:path')
const { AsyncLocalStorage } = require('node:async_hooks')
const { spawnSync } = require('node:child_process')
const { root, runFresh } = require('./helpers')

const nat = require(root)
const examplePath = path.join(root, 'examples', 'hash')
const { createHasher, build, addonPath } = require(examplePath)

// Built once here, before any child process loads it.
build()

const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex')

// Runs code in a fresh Node with createHasher in scope. A hang guard
// (killed after two minutes, far beyond any normal run) turns a hang at
// exit into a failure instead of a stalled suite; nothing asserts on how
// long anything took.
function runChild (code) {
  const r = spawnSync(process.execPath,
    ['-e', `const { createHasher } = require(${JSON.stringify(examplePath)})\n${code}`],
    { cwd: root, encoding: 'utf8', timeout: 120_000, killSignal: 'SIGKILL' })
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr }
}

test.afterEach(() => {
  nat.disable()
  nat.drain()
})

test('digests equal node:crypto\'s: known answers, block boundaries, 1 MiB, random, views', async () => {
  const hasher = createHasher({ threads: 2 })
  try {
    // FIPS 180-4 examples (NIST's SHA256.pdf).
    assert.equal(await hasher.hashAsync(Buffer.from('abc')),
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
    assert.equal(await hasher.hashAsync(Buffer.from('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')),
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1')
    assert.equal(await hasher.hashAsync(Buffer.alloc(0)),
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')

    const inputs = [Buffer.alloc(0), Buffer.from('hello'), Buffer.alloc(1 << 20, 0x61), crypto.randomBytes(1 << 20)]
    for (const n of [1, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000, 4096 + 3]) inputs.push(crypto.randomBytes(n))
    for (let i = 0; i < 40; i++) inputs.push(crypto.randomBytes(crypto.randomInt(0, 300_000)))
    const got = await Promise.all(inputs.map((b) => hasher.hashAsync(b)))
    got.forEach((hex, i) => assert.equal(hex, sha256(inputs[i]), `input ${i} (${inputs[i].length} bytes)`))

    // Views hash exactly their own bytes: offsets and lengths are honoured.
    const big = crypto.randomBytes(10_000)
    const views = [
      big.subarray(7, 9_001),
      new Uint16Array(big.buffer, big.byteOffset + 2, 100),
      new Float64Array(big.buffer.slice(big.byteOffset + 8, big.byteOffset + 808)),
      new DataView(big.buffer, big.byteOffset + 3, 555)
    ]
    for (const v of views) {
      const bytes = Buffer.from(v.buffer, v.byteOffset, v.byteLength)
      assert.equal(await hasher.hashAsync(v), sha256(bytes), v.constructor.name)
    }

    // The callback form: (null, hex), called once.
    const calls = await new Promise((resolve) => {
      const seen = []
      hasher.hash(Buffer.from('abc'), (...args) => { seen.push(args); setImmediate(() => resolve(seen)) })
    })
    assert.deepEqual(calls, [[null, 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad']])
  } finally {
    hasher.close()
  }
})

test('AsyncLocalStorage: 200 concurrent hashes under 200 stores each see their own', async () => {
  const hasher = createHasher({ threads: 2 })
  const als = new AsyncLocalStorage()
  const stores = Array.from({ length: 200 }, (_, i) => ({ i }))
  const wrong = []
  const inputs = stores.map((s) => crypto.randomBytes(1000 + s.i * 97))
  const done = stores.map((store, i) => als.run(store, () => new Promise((resolve) => {
    hasher.hash(inputs[i], (err, hex) => {
      if (als.getStore() !== store) wrong.push(`callback ${i} saw ${JSON.stringify(als.getStore())}`)
      if (err !== null || hex !== sha256(inputs[i])) wrong.push(`callback ${i}: wrong result`)
      resolve()
    })
  })))
  // The promise form: the continuation after await sees the store too.
  const awaited = stores.map((store, i) => als.run(store, async () => {
    const hex = await hasher.hashAsync(inputs[i])
    if (als.getStore() !== store) wrong.push(`await ${i} saw ${JSON.stringify(als.getStore())}`)
    return hex
  }))
  await Promise.all(done)
  const hexes = await Promise.all(awaited)
  hasher.close()
  assert.deepEqual(wrong, [])
  assert.deepEqual(hexes, inputs.map(sha256))
})

test('tracing: each hash is one link (JS thread), one ready (pool thread), one frame, at the hasher\'s site', async () => {
  const name = 'test:hash-trace'
  const hasher = createHasher({ threads: 2, name })
  nat.enable()
  nat.drain()
  const requester = nat.marks.site('test:requester')
  const n = 30
  const frames = new Map() // input index -> the callback's frame
  const nested = { frame: 0 }
  const all = new Promise((resolve) => {
    let left = n
    const frame = nat.marks.begin(requester, 0)
    for (let i = 0; i < n; i++) {
      hasher.hash(Buffer.alloc(i * 1000, i), () => {
        frames.set(i, nat.marks.current())
        if (i === 0) {
          // A hash requested from a hash callback: its stack runs through it.
          hasher.hash(Buffer.from('nested'), () => {
            nested.frame = nat.marks.current()
            if (--left === 0) resolve()
          })
          return
        }
        if (--left === 0) resolve()
      })
    }
    nat.marks.end(frame)
    frames.set('requester', frame)
  })
  await all
  hasher.close()
  const events = nat.drain()
  const ev = [...events].filter((e) => e.site === name)
  const of = (t) => ev.filter((e) => e.event === t)
  assert.equal(of('link').length, n + 1)
  assert.equal(of('ready').length, n + 1)
  assert.equal(of('executionBegin').length, n + 1)
  assert.equal(of('executionEnd').length, n + 1)
  assert.equal(ev.filter((e) => e.event === 'abort').length, 0)

  const requesterFrame = frames.get('requester')
  const jsThread = of('link')[0].thread
  const readyByLink = new Map(of('ready').map((r) => [r.linkID, r]))
  const beginByReady = new Map(of('executionBegin').map((b) => [b.readyID, b]))
  const ended = new Set(of('executionEnd').map((e) => e.executeID))
  for (const l of of('link')) {
    assert.equal(l.thread, jsThread, 'every link is made on the JS thread')
    const r = readyByLink.get(l.linkID)
    assert.ok(r, `link ${l.linkID} has its one ready`)
    assert.notEqual(r.thread, jsThread, 'the ready is made on a pool thread')
    assert.equal(r.executeID, 0, 'a native thread readies from the root')
    const b = beginByReady.get(r.readyID)
    assert.ok(b, `ready ${r.readyID} has its frame`)
    assert.equal(b.thread, jsThread, 'the callback runs on the JS thread')
    assert.ok(ended.has(b.executeID), `frame ${b.executeID} ends`)
  }
  const requested = of('link').filter((l) => l.executeID === requesterFrame)
  assert.equal(requested.length, n, 'the hashes are linked in the frame that called hash()')

  // Async call stacks: the callback's frame, then the frame that asked.
  const g = nat.graph(events)
  const frameIDs = new Set(of('executionBegin').map((b) => b.executeID))
  for (let i = 0; i < n; i++) {
    assert.ok(frameIDs.has(frames.get(i)), `callback ${i} ran inside its frame`)
    assert.deepEqual(g.stackSites(frames.get(i)), [name, 'test:requester', 'root'])
  }
  assert.deepEqual(g.stackSites(nested.frame), [name, name, 'test:requester', 'root'])
  const steps = g.stack(frames.get(5))
  assert.deepEqual(steps.map((s) => s.kind), ['frame', 'ready', 'link', 'frame', 'root'])
  assert.notEqual(steps[1].thread, jsThread)
  assert.equal(steps[2].frame, requesterFrame)
  assert.deepEqual(g.pending().filter((p) => p.site === name), [])
})

test('bad input throws TypeError/RangeError with a code, and nothing is called', async () => {
  const codeOf = (fn) => { try { fn() } catch (e) { return `${e.constructor.name} ${e.code}` } return 'no throw' }
  assert.equal(codeOf(() => createHasher({ threads: 0 })), 'RangeError NAT_ERANGE')
  assert.equal(codeOf(() => createHasher({ threads: 17 })), 'RangeError NAT_ERANGE')
  assert.equal(codeOf(() => createHasher({ threads: 1.5 })), 'RangeError NAT_ERANGE')
  assert.equal(codeOf(() => createHasher({ threads: '2' })), 'TypeError NAT_EINVAL')
  assert.equal(codeOf(() => createHasher({ name: 5 })), 'TypeError NAT_EINVAL')
  assert.equal(codeOf(() => createHasher({ name: '' })), 'TypeError NAT_EINVAL')
  assert.equal(codeOf(() => createHasher({ name: 'x'.repeat(256) })), 'TypeError NAT_EINVAL')
  assert.equal(codeOf(() => createHasher(null)), 'TypeError NAT_EINVAL')

  const hasher = createHasher({ threads: 1 })
  let called = 0
  const cb = () => { called++ }
  for (const bad of ['abc', 123, null, undefined, {}, [1, 2], new ArrayBuffer(8)]) {
    assert.equal(codeOf(() => hasher.hash(bad, cb)), 'TypeError NAT_EINVAL', String(bad))
  }
  assert.equal(codeOf(() => hasher.hash(Buffer.alloc(1))), 'TypeError NAT_EINVAL')
  assert.equal(codeOf(() => hasher.hash(Buffer.alloc(1), 'cb')), 'TypeError NAT_EINVAL')
  await assert.rejects(hasher.hashAsync('abc'), { name: 'TypeError', code: 'NAT_EINVAL' })

  // The addon checks for itself too, for callers that skip index.js.
  const b = require(addonPath)
  assert.equal(codeOf(() => b.hash({}, Buffer.alloc(1), cb)), 'TypeError NAT_EINVAL')
  assert.equal(codeOf(() => b.hash(nat.nativeApi, Buffer.alloc(1), cb)), 'TypeError NAT_EINVAL',
    'an External that is not a hasher')
  assert.equal(codeOf(() => b.hash()), 'TypeError NAT_EINVAL')
  assert.equal(codeOf(() => b.create(5, 2)), 'TypeError NAT_EINVAL')
  assert.equal(codeOf(() => b.create('x:y', 99)), 'RangeError NAT_ERANGE')
  assert.equal(codeOf(() => b.create('', 2)), 'TypeError NAT_EINVAL')
  assert.equal(codeOf(() => b.close(null)), 'TypeError NAT_EINVAL')

  // Still works after all that.
  assert.equal(await hasher.hashAsync(Buffer.from('abc')), sha256('abc'))
  hasher.close()
  assert.equal(called, 0)
})

test('close(): outstanding hashes still call back, then threads are joined; later hashes fail clearly', async () => {
  const hasher = createHasher({ threads: 2 })
  assert.equal(hasher.closed, false)
  assert.equal(hasher._state().threads, 2)
  const inputs = Array.from({ length: 20 }, () => crypto.randomBytes(200_000))
  const results = inputs.map((b) => hasher.hashAsync(b))
  hasher.close()
  assert.equal(hasher.closed, true)
  assert.equal(hasher._state().joined, false, 'not while hashes are outstanding')
  assert.throws(() => hasher.hash(Buffer.from('late'), () => {}),
    { name: 'Error', code: 'NAT_ECLOSING', message: /closed/ })
  await assert.rejects(hasher.hashAsync(Buffer.from('late')), { code: 'NAT_ECLOSING' })
  assert.deepEqual(await Promise.all(results), inputs.map(sha256))
  assert.deepEqual(hasher._state(), { outstanding: 0, closing: true, released: true, joined: true, threads: 0 })
  hasher.close() // idempotent
  // The native check as well, for callers that skip index.js.
  const b = require(addonPath)
  const raw = b.create('test:raw', 1)
  b.close(raw)
  assert.throws(() => b.hash(raw, Buffer.alloc(1), () => {}), { code: 'NAT_ECLOSING' })
})

test('no hang at exit: a process that hashes and never closes exits by itself', () => {
  const r = runChild(`
    const h = createHasher({ threads: 2 })
    const hex = []
    let n = 0
    for (let i = 0; i < 8; i++) h.hash(Buffer.alloc(1 << 20, i), (err, d) => { hex[i] = d; if (++n === 8) console.log(hex.join(' ')) })
  `)
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stdout, Array.from({ length: 8 }, (_, i) => sha256(Buffer.alloc(1 << 20, i))).join(' ') + '\n')
})

test('no hang at exit: process.exit() with hashes in flight, and after close()', () => {
  const r = runChild(`
    const h = createHasher({ threads: 2 })
    const g = createHasher({ threads: 1 })
    g.hash(Buffer.from('x'), () => { g.close(); console.log('closed') })
    let n = 0
    for (let i = 0; i < 40; i++) h.hash(Buffer.alloc(1 << 20, i), () => {
      if (++n === 3) process.exit(0)
    })
  `)
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.signal, null)
})

test('Worker threads: a hasher per env; terminating a Worker mid-flight frees its hashes', () => {
  const r = runChild(`
    const { Worker } = require('node:worker_threads')
    const code = \`
      const { parentPort, workerData } = require('node:worker_threads')
      const { createHasher } = require(workerData.example)
      const h = createHasher({ threads: 2 })
      if (workerData.finish) {
        h.hashAsync(Buffer.from('abc')).then((hex) => { parentPort.postMessage(hex); h.close() })
      } else {
        for (let i = 0; i < 50; i++) h.hash(Buffer.alloc(1 << 20, i), () => {})
        parentPort.postMessage('started')
      }
    \`
    const example = ${JSON.stringify(examplePath)}
    const finished = new Worker(code, { eval: true, workerData: { example, finish: true } })
    finished.on('message', (m) => console.log('finished', m))
    let terminated = 0
    for (let i = 0; i < 6; i++) {
      const w = new Worker(code, { eval: true, workerData: { example, finish: false } })
      w.on('message', () => w.terminate().then(() => { if (++terminated === 6) console.log('terminated', terminated) }))
    }
  `)
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.signal, null)
  assert.match(r.stdout, new RegExp(`finished ${sha256('abc')}`))
  assert.match(r.stdout, /terminated 6/)
})

test('a callback that throws is an uncaught exception; the hasher keeps working', () => {
  const r = runChild(`
    const h = createHasher({ threads: 1 })
    process.once('uncaughtException', (e) => {
      console.log('caught', e.message)
      h.hash(Buffer.from('abc'), (err, hex) => { console.log(hex); h.close() })
    })
    h.hash(Buffer.from('boom'), () => { throw new Error('from the callback') })
  `)
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stdout, `caught from the callback\n${sha256('abc')}\n`)
})

test('the addon needs napi-async-trace loaded first: NAT_ENOTLOADED otherwise', () => {
  const r = runFresh(`
    try { require(${JSON.stringify(addonPath)}); console.log('loaded') } catch (e) { console.log(e.code) }
  `)
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stdout, 'NAT_ENOTLOADED\n')
})

test('build() is a no-op when the addon is up to date', () => {
  assert.equal(build(), addonPath)
})
