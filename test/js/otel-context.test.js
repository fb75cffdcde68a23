'use strict'
// OpenTelemetry's context (AsyncLocalStorageContextManager) inside native
// callbacks: a span started in the callback of a native work item must be a
// child of the span that requested the item. Several requests run at once,
// each in a span of its own, and every callback must find its own
// requester's span, not its neighbour's or the one active where the queue
// was created. Run on Node 20, 22, 24 and 26 by scripts/matrix.js.
//
// The raw fixture (plain Node-API, no engine) shows the gap the engine
// closes: its callbacks see the context of the resource's creation (a
// threadsafe function made outside any span: no parent at all), and on
// Node 24+ async work's complete sees no context either.
const test = require('node:test')
const assert = require('node:assert/strict')
const { setupOtel, parentId, loadRaw } = require('./otel-helpers')
const { loadConsumer, until } = require('./helpers')

const nat = require('../..')
const { api, exporter, tracer } = setupOtel()
const c = loadConsumer()
const major = Number(process.versions.node.split('.')[0])
const REQUESTS = 6

// Starts REQUESTS request spans; inside each, submit(i, done) asks for
// native work whose callback calls done(i). The callback starts a span
// `inside-<i>`. Resolves to [{ request, inside }] (finished spans).
async function scenario (label, submit) {
  exporter.reset()
  const requests = []
  let finished = 0
  for (let i = 0; i < REQUESTS; i++) {
    tracer.startActiveSpan(`${label}-request-${i}`, (span) => {
      requests.push(span)
      submit(i, (j) => {
        tracer.startSpan(`${label}-inside-${j}`).end()
        finished++
      })
      span.end()
    })
  }
  await until(() => finished === REQUESTS, `${label} callbacks`)
  const spans = exporter.getFinishedSpans()
  return requests.map((req, i) => ({
    request: req.spanContext(),
    inside: spans.find((s) => s.name === `${label}-inside-${i}`)
  }))
}

function assertParents (pairs) {
  for (const { request, inside } of pairs) {
    assert.ok(inside, 'the callback made its span')
    assert.equal(parentId(inside), request.spanId, `${inside.name}: parent is its own request`)
    assert.equal(inside.spanContext().traceId, request.traceId)
  }
}

test('tracked queue: a span started in the callback is a child of the requesting span', async () => {
  // Created outside any span: only a per-task context can be right.
  const q = c.createQueue('otel:queue', (v) => done.get(v / 2)(v / 2), { poolThreads: 2 })
  const done = new Map()
  const pairs = await scenario('queue', (i, cb) => {
    done.set(i, cb)
    c.submit(q, i, 1)
  })
  c.release(q)
  assertParents(pairs)
})

test('tracked queue fed from a native pool with delays: order of completion differs from order of requests', async () => {
  const q = c.createQueue('otel:queue-delay', (v) => done.get(v / 2)(v / 2), { poolThreads: 3 })
  const done = new Map()
  const pairs = await scenario('queue-delay', (i, cb) => {
    done.set(i, cb)
    c.submit(q, i, 1000 * (REQUESTS - i))
  })
  c.release(q)
  assertParents(pairs)
})

test('tracked async work: a span started in complete is a child of the requesting span', async () => {
  const pairs = await scenario('work', (i, cb) => {
    c.work('otel:work', i, 1, (cancelled, result) => {
      assert.equal(cancelled, false)
      cb(result / 2)
    })
  })
  assertParents(pairs)
})

test('examples/hash (a real addon on the C header): a span started in the hash callback is a child of the requesting span', async () => {
  const { createHasher } = require('../../examples/hash')
  const hasher = createHasher({ threads: 2 })
  const pairs = await scenario('hash', (i, cb) => {
    hasher.hash(Buffer.alloc(1000 * (i + 1), i), (err, hex) => {
      assert.ifError(err)
      assert.match(hex, /^[0-9a-f]{64}$/)
      cb(i)
    })
  })
  hasher.close()
  assertParents(pairs)
})

test('without the engine (plain Node-API), a threadsafe function callback does not see the requesting span', async () => {
  const raw = loadRaw()
  const done = new Map()
  const feeder = raw.createFeeder((v) => done.get(v / 2)(v / 2))
  const pairs = await scenario('raw-tsfn', (i, cb) => {
    done.set(i, cb)
    raw.feed(feeder, i)
  })
  raw.close(feeder)
  for (const { request, inside } of pairs) {
    assert.ok(inside)
    assert.notEqual(parentId(inside), request.spanId, 'plain tsfn: the requester is lost')
  }
})

test('without the engine (plain Node-API), async work complete loses the requesting span on Node 24+', async () => {
  const raw = loadRaw()
  const pairs = await scenario('raw-work', (i, cb) => {
    raw.work(i, (v) => cb(v / 2))
  })
  const right = pairs.filter(({ request, inside }) => parentId(inside) === request.spanId).length
  if (major >= 24) {
    // AsyncContextFrame: napi_open_callback_scope (what Node runs complete
    // in) does not restore the frame. The tracked work above does.
    assert.equal(right, 0, 'Node 24+: no complete sees its requester')
  } else {
    // Node 20/22 keep the store on the resource, made in the request.
    assert.equal(right, REQUESTS)
  }
})

test('the engine loaded and recording changes nothing in what the callbacks see', async () => {
  nat.enable()
  try {
    const q = c.createQueue('otel:queue-rec', (v) => done.get(v / 2)(v / 2), { poolThreads: 2 })
    const done = new Map()
    const pairs = await scenario('queue-rec', (i, cb) => {
      done.set(i, cb)
      c.submit(q, i, 0)
    })
    c.release(q)
    assertParents(pairs)
  } finally {
    nat.disable()
    nat.drain()
  }
})

test('api.context.active() in a callback is the requester\'s context (baggage too)', async () => {
  const q = c.createQueue('otel:queue-baggage', (v) => done.get(v / 2)(v / 2), { poolThreads: 1 })
  const done = new Map()
  const seen = []
  let finished = 0
  for (let i = 0; i < 3; i++) {
    const bag = api.propagation.createBaggage({ user: { value: `u${i}` } })
    api.context.with(api.propagation.setBaggage(api.context.active(), bag), () => {
      done.set(i, (j) => {
        seen[j] = api.propagation.getBaggage(api.context.active())?.getEntry('user')?.value
        finished++
      })
      c.submit(q, i, 0)
    })
  }
  await until(() => finished === 3, 'baggage callbacks')
  c.release(q)
  assert.deepEqual(seen, ['u0', 'u1', 'u2'])
})

// Unmodified addons from npm (zero-code tracing, issue 14): the addon's
// complete runs through the engine's trampoline in the requester's
// context. An addon that cannot be loaded here is skipped with the
// reason, never counted as passed.
const { ensure } = require('../../scripts/addons-setup')
function available (t, name) {
  const why = ensure(name)
  if (why !== null) t.skip(`${name} is not available here: ${why}`)
  return why === null
}

// Runs fn with zero-code tracing on (addons rebound) and puts every
// rebound import back afterwards, so the tests after it see plain Node.
async function withAddons (fn) {
  nat.enable({ addons: true })
  try {
    return await fn()
  } finally {
    nat.enable({ addons: false })
    nat.disable()
    nat.drain()
  }
}

test('unmodified bcrypt (callback API), zero-code tracing on: a span started in the callback is a child of the requesting span', async (t) => {
  if (!available(t, 'bcrypt')) return
  const bcrypt = require('bcrypt')
  const salt = bcrypt.genSaltSync(4) // made up front: with rounds bcrypt first runs crypto.randomBytes
  const pairs = await withAddons(() => scenario('bcrypt', (i, cb) => {
    bcrypt.hash(`pw-${i}`, salt, (err, h) => {
      assert.ifError(err)
      assert.match(h, /^\$2b\$04\$/)
      cb(i)
    })
  }))
  assertParents(pairs)
  assert.ok(nat.addons().some((a) => /node_modules\/bcrypt\//.test(a.path) && a.status === 'OK'), 'bcrypt was rebound')
})

test('unmodified bcrypt (callback API) without the interposer: the callback loses the requesting span on Node 24+', async (t) => {
  if (!available(t, 'bcrypt')) return
  const bcrypt = require('bcrypt')
  const salt = bcrypt.genSaltSync(4)
  nat.enable({ addons: false }) // every rebound import back to Node's own
  assert.equal(nat.addons().filter((a) => a.active).length, 0)
  const pairs = await scenario('bcrypt-off', (i, cb) => {
    bcrypt.hash(`pw-${i}`, salt, (err) => { assert.ifError(err); cb(i) })
  })
  const right = pairs.filter(({ request, inside }) => parentId(inside) === request.spanId).length
  // Node 24+: async work's complete runs in no context at all (DESIGN.md
  // section 1); Node 20/22 keep the store of the work's creation, made
  // inside the request.
  assert.equal(right, major >= 24 ? 0 : REQUESTS)
})

// A promise's continuation runs in the context where .then/await attached
// it, with or without the interposer; what this checks is that rebinding
// the addon (its complete now runs through the engine's trampoline) keeps
// that so. The loss without the interposer is the callback API's (above).
test('unmodified @node-rs/bcrypt and classic-level (promise APIs), zero-code tracing on: spans after await are children of the requesting span', async (t) => {
  const os = require('node:os')
  const fs = require('node:fs')
  const path = require('node:path')
  if (available(t, '@node-rs/bcrypt')) {
    const nrs = require('@node-rs/bcrypt')
    const pairs = await withAddons(() => scenario('nrs', (i, cb) => {
      nrs.hash(`pw-${i}`, { cost: 4 }).then((h) => { assert.match(h, /^\$2b\$04\$/); cb(i) })
    }))
    assertParents(pairs)
  }
  if (available(t, 'classic-level')) {
    const { ClassicLevel } = require('classic-level')
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nat-otel-level-'))
    const db = new ClassicLevel(dir)
    try {
      await db.open()
      const pairs = await withAddons(async () => {
        const seen = nat.addons().find((a) => /node_modules\/classic-level\//.test(a.path))
        assert.equal(seen && seen.status, 'OK', 'classic-level was rebound')
        return scenario('level', (i, cb) => {
          db.put(`k${i}`, `v${i}`).then(() => db.get(`k${i}`)).then((v) => { assert.equal(v, `v${i}`); cb(i) })
        })
      })
      assertParents(pairs)
      } finally {
      await db.close()
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }
})
