'use strict'
// Zero-code tracing of real addons from npm, unmodified (devDependencies):
// bcrypt, @node-rs/bcrypt (napi-rs), classic-level, sqlite3
// (node-addon-api AsyncWorker) and @parcel/watcher (threadsafe functions).
// For each: a request inside als.run going JS -> addon -> callback/promise
// -> JS is one connected async stack from the root through the addon's
// pool frame (or native thread) with the addon's site; the store is right
// inside the addon's callbacks; per-run queue wait + pool run + loop wait
// add up to the request's wall time within 10%. An addon that cannot be
// loaded here is skipped with the reason, never counted as passed.
const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { root } = require('./helpers')
const { scenario, nodeMajor } = require('./addons-helpers')
const { ensure } = require('../../scripts/addons-setup')

// What the child prints: the requests (store seen, t0, t1, the frame the
// callback ran in) and every event, for the checks below.
function runRequests (request, { addons = true, setup = '', teardown = '', n = 5 } = {}) {
  return scenario(`
    ${setup}
    const reqs = []
    const one = async (i) => {
      const t0 = process.hrtime.bigint()
      const r = await als.run('req-' + i, ${request})
      const t1 = r.t1 === undefined ? process.hrtime.bigint() : r.t1
      reqs.push({ i, store: r.store, frame: r.frame, t0: Number(t0), t1: Number(t1) })
    }
    await one(-1) // warm-up: first-call costs are not the addon's
    for (let i = 0; i < ${n}; i++) await one(i)
    ${teardown}
    await new Promise((r) => setImmediate(r))
    const ev = events().map((e) => ({ event: e.event, executeID: e.executeID, linkID: e.linkID, readyID: e.readyID, ts: e.ts, thread: e.thread, site: e.site }))
    done({ reqs: reqs.filter((q) => q.i >= 0), ev, main: nat.marks.current() === 0 ? ev.find((e) => e.event === 'executionBegin' && e.executeID === 0).thread : -1 })`, { addons })
    .result
}

// Every async work run linked inside [t0, t1] whose complete began by t1:
// { queue, pool, loop, complete } in ns, from its link, pool ready/frame,
// completion ready and complete frame (its run up to t1, or up to the next
// run's link: a callback that takes t1 runs inside it).
function runsIn (ev, t0, t1, sitePrefix, main) {
  const byLink = new Map()
  const byReady = new Map()
  const frames = new Map()
  for (const e of ev) {
    if (e.event === 'link') byLink.set(e.linkID, e)
    else if (e.event === 'ready') byReady.set(e.readyID, e)
    else if (e.event === 'executionBegin') frames.set(e.executeID, { begin: e })
    else if (e.event === 'executionEnd' && frames.has(e.executeID)) frames.get(e.executeID).end = e
  }
  const runs = []
  for (const [, f] of frames) {
    const c = f.begin
    if (c.thread !== main || !c.site || !c.site.startsWith(sitePrefix) || c.ts > t1) continue
    const r2 = byReady.get(c.readyID)
    if (!r2 || r2.executeID === 0) continue
    const pool = frames.get(r2.executeID)
    if (!pool || pool.begin.thread === main || !pool.end) continue
    const r1 = byReady.get(pool.begin.readyID)
    const l1 = r1 && byLink.get(r1.linkID)
    if (!l1 || l1.ts < t0) continue
    runs.push({ site: c.site, linked: l1.ts, begin: c.ts, end: f.end ? f.end.ts : t1, queue: r1.ts - l1.ts, pool: pool.end.ts - pool.begin.ts, loop: c.ts - r2.ts })
  }
  // A complete frame that queues the next run (bcrypt's salt, then its
  // hash) overlaps that run from then on: it counts up to that link (or
  // t1), so the parts lie end to end along the request.
  runs.sort((a, b) => a.linked - b.linked)
  for (let i = 0; i < runs.length; i++) {
    const until = Math.min(runs[i].end, t1, i + 1 < runs.length ? runs[i + 1].linked : Infinity)
    runs[i].complete = Math.max(0, until - runs[i].begin)
  }
  return runs
}

function checkTimes (res, sitePrefix) {
  const gaps = []
  for (const q of res.reqs) {
    const runs = runsIn(res.ev, q.t0, q.t1, sitePrefix, res.main)
    assert.ok(runs.length > 0, `request ${q.i}: no async work run of ${sitePrefix} in its window`)
    let sum = 0
    for (const r of runs) {
      assert.ok(r.queue >= 0 && r.pool > 0 && r.loop >= 0, JSON.stringify(r))
      sum += r.queue + r.pool + r.loop + r.complete
    }
    const wall = q.t1 - q.t0
    gaps.push({ gap: Math.abs(wall - sum) / wall, sum, wall })
    if (process.env.NAT_DEBUG_TIMES) console.error(q.i, wall, JSON.stringify(runs))
  }
  // What the parts leave out is JS time around the addon call. The median
  // request: one the OS descheduled between its JS lines and the addon's
  // first call does not decide alone.
  gaps.sort((a, b) => a.gap - b.gap)
  const m = gaps[gaps.length >> 1]
  assert.ok(m.gap <= 0.10, `queue+pool+loop+complete ${m.sum} ns vs wall ${m.wall} ns (${(m.gap * 100).toFixed(1)}% apart; all: ${gaps.map((g) => (g.gap * 100).toFixed(1)).join(', ')}%)`)
}

// The async stack of a frame, innermost first, as [site, onMain] per frame.
function stackOf (ev, frameID, main) {
  const byLink = new Map()
  const byReady = new Map()
  const begins = new Map()
  for (const e of ev) {
    if (e.event === 'link') byLink.set(e.linkID, e)
    else if (e.event === 'ready') byReady.set(e.readyID, e)
    else if (e.event === 'executionBegin') begins.set(e.executeID, e)
  }
  const out = []
  let id = frameID
  for (let hops = 0; hops < 100; hops++) {
    if (id === 0) { out.push(['root', true]); return out }
    const b = begins.get(id)
    if (!b) { out.push(['missing', false]); return out }
    out.push([b.site, b.thread === main])
    const r = byReady.get(b.readyID)
    const l = r && byLink.get(r.linkID)
    if (!l) { out.push(['missing', false]); return out }
    id = l.executeID
  }
  return out
}

function checkStack (res, frameOf, sitePrefix) {
  for (const q of res.reqs) {
    const frame = frameOf(q)
    assert.ok(frame > 0, `request ${q.i}: no frame`)
    const s = stackOf(res.ev, frame, res.main)
    assert.deepEqual(s[s.length - 1], ['root', true], JSON.stringify(s))
    assert.ok(!s.some((x) => x[0] === 'missing'), JSON.stringify(s))
    assert.ok(s[0][0].startsWith(sitePrefix), JSON.stringify(s))
    assert.ok(s.some((x) => x[0].startsWith(sitePrefix) && !x[1]), `no pool/native frame of ${sitePrefix}: ${JSON.stringify(s)}`)
  }
}

function skipUnless (t, name) {
  const why = ensure(name)
  if (why !== null) t.skip(`${name} is not available here: ${why}`)
  return why === null
}

const BCRYPT = `
  const bcrypt = require('bcrypt')`

test('bcrypt (callback): one stack through the pool, the store in the callback, the waits add up', (t) => {
  if (!skipUnless(t, 'bcrypt')) return
  // A salt made up front: with a number of rounds bcrypt first runs
  // crypto.randomBytes on the pool, a JS job outside any addon.
  const setup = BCRYPT + `
  const salt = bcrypt.genSaltSync(6)`
  const request = `() => new Promise((resolve) => bcrypt.hash('pw', salt, (err, h) => {
      resolve({ store: als.getStore(), frame: nat.marks.current(), t1: process.hrtime.bigint(), err })
    }))`
  const on = runRequests(request, { setup })
  for (const q of on.reqs) assert.equal(q.store, `req-${q.i}`)
  checkStack(on, (q) => q.frame, 'bcrypt:')
  // The callback ran in the hash run's complete frame; the pool frame of
  // that run requested it; the request itself ran in the root.
  const sites = stackOf(on.ev, on.reqs[0].frame, on.main).map((s) => s[0])
  assert.deepEqual(sites, ['bcrypt:EncryptAsyncWorker', 'bcrypt:EncryptAsyncWorker', 'root'])
  checkTimes(on, 'bcrypt:')
})

test('bcrypt with a number of rounds: salt then hash, two pool frames on one stack', (t) => {
  if (!skipUnless(t, 'bcrypt')) return
  const request = `() => new Promise((resolve) => bcrypt.hash('pw', 4, () => resolve({ store: als.getStore(), frame: nat.marks.current() })))`
  const on = runRequests(request, { setup: BCRYPT, n: 2 })
  for (const q of on.reqs) {
    assert.equal(q.store, `req-${q.i}`)
    assert.deepEqual(stackOf(on.ev, q.frame, on.main).map((s) => s[0]), ['bcrypt:EncryptAsyncWorker', 'bcrypt:EncryptAsyncWorker',
      'bcrypt:SaltAsyncWorker', 'bcrypt:SaltAsyncWorker', 'root'])
  }
})

test('bcrypt: the store inside the callback is lost without the interposer on Node 24+, right with it', (t) => {
  if (!skipUnless(t, 'bcrypt')) return
  const request = `() => new Promise((resolve) => bcrypt.hash('pw', 4, () => resolve({ store: als.getStore() })))`
  const off = runRequests(request, { setup: BCRYPT, addons: false, n: 2 })
  const on = runRequests(request, { setup: BCRYPT, addons: true, n: 2 })
  for (const q of on.reqs) assert.equal(q.store, `req-${q.i}`)
  for (const q of off.reqs) assert.equal(q.store, nodeMajor >= 24 ? undefined : `req-${q.i}`)
})

test('@node-rs/bcrypt (napi-rs, promise): one stack through the pool, the waits add up', (t) => {
  if (!skipUnless(t, '@node-rs/bcrypt')) return
  const request = `async () => { await nrs.hash('pw', { cost: 6 }); return { store: als.getStore() } }`
  const on = runRequests(request, { setup: "const nrs = require('@node-rs/bcrypt')" })
  for (const q of on.reqs) assert.equal(q.store, `req-${q.i}`)
  // A promise continuation is not a frame: the stack is checked from the
  // complete frames of the runs in each request's window.
  checkTimes(on, '@node-rs/bcrypt:')
  const frames = on.ev.filter((e) => e.event === 'executionBegin' && e.thread === on.main && e.site && e.site.startsWith('@node-rs/bcrypt:'))
  assert.ok(frames.length >= on.reqs.length)
  checkStack({ ...on, reqs: frames.map((f, i) => ({ i, frame: f.executeID })) }, (q) => q.frame, '@node-rs/bcrypt:')
})

test('classic-level (promise): one stack through the pool per get, the waits add up', (t) => {
  if (!skipUnless(t, 'classic-level')) return
  const dir = path.join(require('node:os').tmpdir(), `nat-level-${process.pid}`)
  const setup = `
    const { ClassicLevel } = require('classic-level')
    const db = new ClassicLevel(${JSON.stringify(dir)}, { valueEncoding: 'buffer' })
    await db.open()
    await db.put('big', Buffer.alloc(1 << 20, 7))`
  const request = `async () => { const v = await db.get('big'); return { store: als.getStore(), len: v.length } }`
  try {
    const on = runRequests(request, { setup, teardown: 'await db.close()' })
    for (const q of on.reqs) assert.equal(q.store, `req-${q.i}`)
    checkTimes(on, 'classic-level:classic_level.db.get')
    const frames = on.ev.filter((e) => e.event === 'executionBegin' && e.thread === on.main && e.site === 'classic-level:classic_level.db.get')
    assert.ok(frames.length >= on.reqs.length)
    checkStack({ ...on, reqs: frames.map((f, i) => ({ i, frame: f.executeID })) }, (q) => q.frame, 'classic-level:')
  } finally {
    require('node:fs').rmSync(dir, { recursive: true, force: true })
  }
})

test('sqlite3 (node-addon-api AsyncWorker, callback): one stack through the pool, the store, the waits add up', (t) => {
  if (!skipUnless(t, 'sqlite3')) return
  const setup = `
    const sqlite3 = require('sqlite3')
    const db = await new Promise((resolve, reject) => { const d = new sqlite3.Database(':memory:', (e) => e ? reject(e) : resolve(d)) })`
  const request = `() => new Promise((resolve, reject) => db.all(
      'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000) SELECT count(*) AS n FROM c',
      (err, rows) => err ? reject(err) : resolve({ store: als.getStore(), frame: nat.marks.current(), t1: process.hrtime.bigint(), n: rows[0].n })))`
  const on = runRequests(request, { setup, teardown: 'await new Promise((r) => db.close(r))' })
  for (const q of on.reqs) assert.equal(q.store, `req-${q.i}`)
  checkStack(on, (q) => q.frame, 'sqlite3:')
  checkTimes(on, 'sqlite3:')
  if (nodeMajor >= 24) {
    const off = runRequests(request, { setup, teardown: 'await new Promise((r) => db.close(r))', addons: false, n: 1 })
    assert.equal(off.reqs[0].store, undefined)
  }
})

test('@parcel/watcher (threadsafe function): each event is a frame, linked where the subscription was made, in its store', (t) => {
  if (!skipUnless(t, '@parcel/watcher')) return
  const fs = require('node:fs')
  const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'nat-watch-'))
  try {
    const { result } = scenario(`
      const watcher = require('@parcel/watcher')
      const fs = require('node:fs')
      const seen = []
      let wake
      const sub = await als.run('subscriber', () => watcher.subscribe(${JSON.stringify(dir)}, (err, evs) => {
        seen.push({ store: als.getStore(), frame: nat.marks.current(), n: evs.length })
        if (wake) wake()
      }))
      for (let i = 0; i < 3; i++) {
        const got = new Promise((r) => { wake = r })
        fs.writeFileSync(${JSON.stringify(dir)} + '/f' + i, 'x')
        await got
      }
      await sub.unsubscribe()
      await new Promise((r) => setImmediate(r))
      const ev = events().map((e) => ({ event: e.event, executeID: e.executeID, linkID: e.linkID, readyID: e.readyID, ts: e.ts, thread: e.thread, site: e.site }))
      done({ seen, ev, main: ev.find((e) => e.event === 'executionBegin' && e.executeID === 0).thread })`)
    assert.ok(result.seen.length >= 3)
    for (const s of result.seen) {
      assert.equal(s.store, 'subscriber')
      assert.ok(s.frame > 0)
      const st = stackOf(result.ev, s.frame, result.main)
      assert.equal(st[0][0], '@parcel/watcher:Watcher callback')
      assert.deepEqual(st[st.length - 1], ['root', true], JSON.stringify(st))
      assert.ok(!st.some((x) => x[0] === 'missing'), JSON.stringify(st))
    }
    // The link of each event is attributed to the frame that created the
    // function, its ready to the watcher's own thread.
    const b = result.ev.find((e) => e.event === 'executionBegin' && e.executeID === result.seen[0].frame)
    const r = result.ev.find((e) => e.event === 'ready' && e.readyID === b.readyID)
    assert.notEqual(r.thread, result.main)
    assert.equal(r.executeID, 0)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

test('an un-awaited bcrypt.hash in a test is reported by assertNoPending with the line that started it', (t) => {
  if (!skipUnless(t, 'bcrypt')) return
  const file = path.join(root, 'test', 'fixtures', 'addons', 'unawaited.js')
  const env = { ...process.env }
  delete env.NODE_TEST_CONTEXT // the child reports as a program of its own
  const r = spawnSync(process.execPath, ['-r', 'napi-async-trace/register', file], { cwd: root, encoding: 'utf8', env })
  const out = r.stdout + r.stderr
  assert.equal(r.status, 1, out)
  assert.match(out, /left \d+ async task\(s\) pending/)
  assert.match(out, /bcrypt:EncryptAsyncWorker|bcrypt:SaltAsyncWorker/)
  assert.match(out, /unawaited\.js:13/)
})

test('napi-async-trace record -- node app.js (bcrypt + classic-level): stacks and report show each item\'s pool frame and site', (t) => {
  if (!skipUnless(t, 'bcrypt') || !skipUnless(t, 'classic-level')) return
  const fs = require('node:fs')
  const os = require('node:os')
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nat-rec-real-'))
  const app = path.join(dir, 'app.js')
  const at = (name) => JSON.stringify(require.resolve(name, { paths: [root] }))
  // Four hashes at once, each stored when done, then read back: the app
  // knows nothing of the engine; the CLI's preload turns zero-code tracing on.
  fs.writeFileSync(app, `
    const bcrypt = require(${at('bcrypt')})
    const { ClassicLevel } = require(${at('classic-level')})
    const db = new ClassicLevel(${JSON.stringify(path.join(dir, 'db'))})
    ;(async () => {
      await db.open()
      const salt = bcrypt.genSaltSync(4)
      await Promise.all([0, 1, 2, 3].map((i) => new Promise((resolve, reject) =>
        bcrypt.hash('pw' + i, salt, (err, h) => err ? reject(err) : resolve(db.put('k' + i, h))))))
      for (let i = 0; i < 4; i++) await db.get('k' + i)
      await db.close()
    })()
  `)
  const bin = path.join(root, 'bin', 'napi-async-trace.js')
  const cli = (...args) => {
    const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' })
    assert.equal(r.status, 0, r.stderr)
    return r
  }
  try {
    const trace = path.join(dir, 'trace.json')
    cli('record', '-o', trace, '--', process.execPath, app)
    // stacks: the put of a hash is a pool frame of classic-level, linked
    // in bcrypt's complete frame on the JS thread, itself linked and made
    // ready by bcrypt's pool frame on a pool thread.
    const out = cli('stacks', trace, '--slowest', '1000').stdout
    const chain = new RegExp([
      'frame \\d+ {2}classic-level:classic_level\\.db\\.put {2}thread (\\d+) [^\\n]*',
      ' {2}<- ready \\d+ by frame 0 on thread \\1[^\\n]*',
      ' {2}<- link \\d+ in frame \\d+ on thread (\\d+)[^\\n]*',
      'frame \\d+ {2}bcrypt:EncryptAsyncWorker {2}thread \\2 [^\\n]*',
      ' {2}<- ready \\d+ by frame \\d+ on thread (\\d+)[^\\n]*',
      ' {2}<- link \\d+ in frame \\d+ on thread \\3[^\\n]*',
      'frame \\d+ {2}bcrypt:EncryptAsyncWorker {2}thread \\3 [^\\n]*'
    ].join('\\n'))
    const m = chain.exec(out)
    assert.ok(m, `a put <- bcrypt complete <- bcrypt pool frame chain in:\n${out}`)
    assert.notEqual(m[1], m[2], 'the put ran on a pool thread')
    assert.notEqual(m[3], m[2], 'the hash ran on a pool thread')
    // report: the embedded data has pool lanes and, per site, each item
    // with its queue wait, pool run and loop wait.
    const html = path.join(dir, 'report.html')
    cli('report', trace, '-o', html)
    const json = /<script type="application\/json" id="report-data">([\s\S]*?)<\/script>/.exec(fs.readFileSync(html, 'utf8'))
    const data = JSON.parse(json[1])
    assert.ok(data.lanes.filter((l) => l.pool).length >= 1, JSON.stringify(data.lanes))
    const items = Object.fromEntries(data.pool.sites.map((s) => [s.site, s]))
    for (const [site, n] of [['bcrypt:EncryptAsyncWorker', 4], ['classic-level:classic_level.db.put', 4], ['classic-level:classic_level.db.get', 4]]) {
      assert.equal(items[site] && items[site].items, n, `${site} in the pool view: ${Object.keys(items)}`)
      for (const k of ['queueWait', 'run', 'loopWait']) assert.equal(items[site][k].count, n, `${site} ${k}`)
      assert.ok(items[site].run.p50 > 0, `${site} ran on the pool`)
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})
