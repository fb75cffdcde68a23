'use strict'
// graph() on input that is not a clean drain: hand-made arrays, other
// processes' JSON, random records. Clear errors or reported problems;
// never a hang, never a crash.
const test = require('node:test')
const assert = require('node:assert/strict')
const { root } = require('./helpers')

const nat = require(root)

// A small seeded PRNG (mulberry32), so a failure can be replayed.
function prng (seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function coded (err) {
  return (err instanceof TypeError || err instanceof RangeError) && typeof err.code === 'string'
}

test('malformed input throws a TypeError or RangeError with a code', () => {
  const bad = [
    [42, 'NAT_EINVAL'],
    ['[]', 'NAT_EINVAL'],
    [null, 'NAT_EINVAL'],
    [[null], 'NAT_EINVAL'],
    [[7], 'NAT_EINVAL'],
    [[{}], 'NAT_EINVAL'],
    [[{ event: 'nope' }], 'NAT_EINVAL'],
    [[{ event: 'toString' }], 'NAT_EINVAL'],
    [[{ event: 'link', executeID: 0, linkID: -1 }], 'NAT_ERANGE'],
    [[{ event: 'link', executeID: 0, linkID: 1.5 }], 'NAT_ERANGE'],
    [[{ event: 'link', executeID: '0', linkID: 1 }], 'NAT_EINVAL'],
    [[{ event: 'link', executeID: 0, linkID: 2 ** 60 }], 'NAT_ERANGE'],
    [[{ event: 'link', executeID: 0, linkID: 1, ts: -5 }], 'NAT_EINVAL'],
    [[{ event: 'link', executeID: 0, linkID: 1, ts: NaN }], 'NAT_EINVAL'],
    [[{ event: 'link', executeID: 0, linkID: 1, site: 3 }], 'NAT_EINVAL'],
    [[{ event: 'link', executeID: 0, linkID: 1, thread: -1 }], 'NAT_ERANGE'],
    [[{ event: 'lost', count: 'many' }], 'NAT_EINVAL'],
    [{ events: 'no' }, 'NAT_EINVAL']
  ]
  for (const [input, code] of bad) {
    assert.throws(() => nat.graph(input), (err) => coded(err) && err.code === code,
      `graph(${JSON.stringify(input)}) throws ${code}`)
  }
  // The error names the event.
  assert.throws(() => nat.graph([{ event: 'link', linkID: 1 }, { event: 'ready', linkID: 'x' }]), /events\[1\]\.linkID/)
  const g = nat.graph([])
  assert.throws(() => g.stack(-1), { code: 'NAT_ERANGE' })
  assert.throws(() => g.stack('1'), { code: 'NAT_EINVAL' })
  assert.throws(() => g.pending(null), { code: 'NAT_EINVAL' })
  assert.throws(() => g.pending({ now: '1' }), { code: 'NAT_EINVAL' })
  assert.throws(() => g.children(1.5), { code: 'NAT_ERANGE' })
  assert.throws(() => nat.graph([], { stacks: 5 }), { code: 'NAT_EINVAL' })
  assert.throws(() => nat.graph([], null), { code: 'NAT_EINVAL' })
  assert.throws(() => nat.decode(new ArrayBuffer(47)), { code: 'NAT_ERANGE' })
})

test('inconsistent events are reported as problems, and walks still end', () => {
  const g = nat.graph([
    { event: 'link', executeID: 0, linkID: 1 },
    { event: 'link', executeID: 0, linkID: 1 }, // duplicate
    { event: 'ready', executeID: 0, linkID: 1, readyID: 2 },
    { event: 'executionBegin', executeID: 3, readyID: 2 },
    { event: 'link', executeID: 9, linkID: 4 }, // made in a later frame: impossible
    { event: 'ready', executeID: 0, linkID: 8, readyID: 5 }, // of a later link
    { event: 'executionBegin', executeID: 6, readyID: 7 }, // of a later ready
    { event: 'executionEnd', executeID: 3 },
    { event: 'executionEnd', executeID: 3 }, // twice
    { event: 'executionEnd', executeID: 1 }, // of a link
    { event: 'ready', executeID: 0, linkID: 20, readyID: 21 }, // its link is not here
    { event: 'executionBegin', executeID: 22, readyID: 21 },
    { event: 'abort', linkID: 0 },
    { event: 'lost', count: 12, thread: 3 }
  ])
  assert.equal(g.problemCount, 7)
  assert.equal(g.problems.length, 7)
  for (const p of g.problems) assert.equal(typeof p.message, 'string')
  assert.deepEqual(g.stackSites(3), [null, 'root'])
  const s = g.stack(22)
  assert.deepEqual(s.map((x) => x.kind), ['frame', 'ready', 'missing'])
  assert.equal(s[2].id, 20)
  assert.deepEqual(g.stack(99), [{ kind: 'missing', id: 99, expected: 'frame' }])
  assert.equal(g.lost, 12)
  assert.equal(g.parent(22), null)
  assert.ok(g.roots.includes(22), 'a frame whose chain leaves the graph is a root')
})

test('10,000 random event lists: coded errors or a graph whose walks all end', () => {
  const seed = Number(process.env.NAT_FUZZ_SEED || 20261124)
  const rand = prng(seed)
  const names = ['link', 'ready', 'executionBegin', 'executionEnd', 'abort', 'lost', 'bogus']
  const pick = (a) => a[Math.floor(rand() * a.length)]
  const value = () => pick([0, 1, 2, 3, 5, 8, 13, Math.floor(rand() * 40), -1, 0.5, 'x', null, undefined, 2 ** 53, 1n])
  let built = 0
  let threw = 0
  for (let round = 0; round < 10_000; round++) {
    const n = Math.floor(rand() * 30)
    const events = []
    for (let i = 0; i < n; i++) {
      const e = { event: pick(names) }
      for (const k of ['executeID', 'linkID', 'readyID']) {
        if (rand() < 0.9) {
          const v = rand() < 0.85 ? Math.floor(rand() * 40) : value()
          if (v !== undefined) e[k] = v
        }
      }
      if (rand() < 0.5) e.ts = rand() < 0.9 ? Math.floor(rand() * 1e6) : value()
      if (rand() < 0.3) e.site = rand() < 0.9 ? pick(['a:b', 'c:d', '']) : value()
      events.push(rand() < 0.02 ? value() : e)
    }
    let g
    try {
      g = nat.graph(events)
    } catch (err) {
      assert.ok(coded(err), `seed ${seed} round ${round}: ${err && err.stack}`)
      threw++
      continue
    }
    built++
    for (let id = 0; id < 40; id++) {
      const s = g.stack(id)
      assert.ok(s.length <= 3 * 40 + 2, `seed ${seed} round ${round}: a walk of ${s.length} steps`)
      const last = s[s.length - 1].kind
      assert.ok(last === 'root' || last === 'missing')
    }
    g.pending()
    g.sites()
    void g.roots
  }
  assert.ok(built > 1000 && threw > 1000, `both paths exercised (built ${built}, threw ${threw})`)
})

test('random records in an ArrayBuffer decode and build without a crash', () => {
  const rand = prng(7)
  for (let round = 0; round < 200; round++) {
    const n = 1 + Math.floor(rand() * 64)
    const buf = new ArrayBuffer(n * nat.constants.RECORD_SIZE)
    const u8 = new Uint8Array(buf)
    for (let i = 0; i < u8.length; i++) u8[i] = rand() < 0.7 ? 0 : Math.floor(rand() * 256)
    const batch = nat.decode(buf)
    const g = nat.graph(batch)
    assert.equal(g.events, n)
    for (let i = 0; i < n; i++) g.stack(Math.min(batch.executeIDAt(i), Number.MAX_SAFE_INTEGER))
    g.pending()
    g.sites()
  }
})

test('review fixes: roots past a missing requester, iterables, all-or-nothing add, finite now', () => {
  const g = nat.graph({
    events: new Set([
      { event: 'link', executeID: 5, linkID: 10 }, // frame 5 is not in the graph
      { event: 'ready', executeID: 0, linkID: 10, readyID: 11 },
      { event: 'executionBegin', executeID: 12, readyID: 11 }
    ])
  })
  assert.deepEqual(g.roots, [12])
  assert.equal(g.parent(12), 5)
  const before = g.size
  assert.throws(() => g.add([{ event: 'link', executeID: 0, linkID: 20 }, { event: 'nope' }]), { code: 'NAT_EINVAL' })
  assert.equal(g.size, before, 'nothing of a rejected add is kept')
  assert.throws(() => nat.graph([{ event: 'link', linkID: 1, ts: -5n }]), { code: 'NAT_EINVAL' })
  assert.throws(() => g.pending({ now: NaN }), { code: 'NAT_ERANGE' })
  const t = nat.graph([{ event: 'executionBegin', executeID: 3, ts: 5 }, { event: 'executionEnd', executeID: 3 }]).toChromeTrace()
  const x = t.traceEvents.find((e) => e.ph === 'X')
  assert.equal(x.dur, 0, 'an end without a time is not a null duration')
})
