'use strict'
// The span bridge (nat.otel): one span per native work item through the
// application's own TracerProvider, built from the engine's recorded
// events. Checked with the SDK's InMemorySpanExporter and with the
// OTLP/HTTP (protobuf) exporter against a receiver here that decodes each
// request with the OpenTelemetry proto definitions.
const test = require('node:test')
const assert = require('node:assert/strict')
const http = require('node:http')
const { setupOtel, parentId } = require('./otel-helpers')
const { loadConsumer, until } = require('./helpers')

const nat = require('../..')
const { api, provider, exporter, tracer } = setupOtel()
const c = loadConsumer()

const hrNs = (t) => t[0] * 1e9 + t[1]
const byName = (spans, name) => spans.filter((s) => s.name === name)

test.afterEach(() => {
  nat.otel.disable()
  exporter.reset()
})

test('one span per queue task, child of the requesting span, with the model\'s events and waits', async () => {
  nat.otel.enable({ tracerProvider: provider, interval: 0 })
  const q = c.createQueue('otel:task', () => { done++ }, { poolThreads: 2 })
  let done = 0
  const requests = []
  for (let i = 0; i < 4; i++) {
    tracer.startActiveSpan(`request-${i}`, (span) => {
      requests.push(span.spanContext())
      c.submit(q, i, 500)
      span.end()
    })
  }
  await until(() => done === 4, 'callbacks')
  c.release(q)
  assert.equal(nat.otel.flush(), 4)
  const spans = byName(exporter.getFinishedSpans(), 'otel:task')
  assert.equal(spans.length, 4)
  const parents = spans.map(parentId).sort()
  assert.deepEqual(parents, requests.map((r) => r.spanId).sort(), 'each task under its own request')
  for (const s of spans) {
    const req = requests.find((r) => r.spanId === parentId(s))
    assert.equal(s.spanContext().traceId, req.traceId)
    assert.equal(s.attributes['nat.site'], 'otel:task')
    assert.equal(typeof s.attributes['nat.link_id'], 'number')
    assert.deepEqual(s.events.map((e) => e.name), ['ready', 'executionBegin', 'executionEnd'])
    const [ready, begin, end] = s.events.map((e) => hrNs(e.time))
    const start = hrNs(s.startTime)
    assert.ok(start <= ready && ready <= begin && begin <= end, 'link <= ready <= begin <= end')
    assert.equal(hrNs(s.endTime), end)
    // The task was made ready by a pool thread, run on the JS thread.
    assert.notEqual(s.attributes['nat.thread.ready'], s.attributes['nat.thread.execution'])
    for (const k of ['nat.queue_wait_ns', 'nat.loop_wait_ns', 'nat.run_ns']) {
      assert.ok(s.attributes[k] >= 0, `${k} = ${s.attributes[k]}`)
    }
    // The pool slept 500 µs before making it ready.
    assert.ok(s.attributes['nat.queue_wait_ns'] >= 500e3)
  }
  const st = nat.otel.stats()
  assert.equal(st.ended, 4)
  assert.equal(st.open, 0)
  assert.equal(st.linkContexts, 0, 'every captured context was taken back')
})

test('span times are on the SDK\'s clock: a span started inside the callback lies within the item\'s frame', async () => {
  nat.otel.enable({ tracerProvider: provider, interval: 0 })
  const q = c.createQueue('otel:clock', () => {
    tracer.startSpan('in-callback').end()
    done = true
  }, { poolThreads: 1 })
  let done = false
  tracer.startActiveSpan('request', (span) => {
    c.submit(q, 1, 0)
    span.end()
  })
  await until(() => done, 'callback')
  c.release(q)
  nat.otel.flush()
  const spans = exporter.getFinishedSpans()
  const item = byName(spans, 'otel:clock')[0]
  const inner = byName(spans, 'in-callback')[0]
  const request = byName(spans, 'request')[0]
  const begin = hrNs(item.events[1].time)
  // The SDK starts its spans at Date.now(), whole milliseconds, truncated,
  // and the bridge's clock anchor is good to microseconds, not to the
  // nanosecond: allow a millisecond (and a little for the wall clock's
  // steps). What this catches is a wrong offset (seconds, or the clock of
  // another origin), not sub-millisecond order.
  const slack = 1.1e6
  assert.ok(hrNs(request.startTime) <= hrNs(item.startTime) + slack, 'the link is inside the request')
  assert.ok(begin <= hrNs(inner.startTime) + slack, `begin ${begin} vs inner start ${hrNs(inner.startTime)}`)
  assert.ok(hrNs(inner.endTime) <= hrNs(item.endTime) + slack, `inner end ${hrNs(inner.endTime)} vs item end ${hrNs(item.endTime)}`)
})

test('a native chain reads as a chain of spans; a span started in a callback becomes the next hop\'s parent', async () => {
  nat.otel.enable({ tracerProvider: provider, interval: 0 })
  const hops = 4
  const queues = []
  let last = false
  for (let i = 1; i <= hops; i++) {
    const n = i
    queues.push(c.createQueue(`chain:${n}`, () => {
      if (n === 2) {
        // Code in the callback that starts a span of its own: the next
        // hop belongs under it.
        tracer.startActiveSpan('user-in-hop-2', (span) => {
          c.submit(queues[n], n + 1, 0)
          span.end()
        })
      } else if (n < hops) {
        c.submit(queues[n], n + 1, 0)
      } else {
        last = true
      }
    }, { poolThreads: 1 }))
  }
  tracer.startActiveSpan('request', (span) => {
    c.submit(queues[0], 1, 0)
    span.end()
  })
  await until(() => last, 'the last hop')
  for (const q of queues) c.release(q)
  nat.otel.flush()
  const spans = exporter.getFinishedSpans()
  const id = (name) => byName(spans, name)[0].spanContext().spanId
  const parentOf = (name) => parentId(byName(spans, name)[0])
  assert.equal(parentOf('chain:1'), id('request'))
  assert.equal(parentOf('chain:2'), id('chain:1'))
  assert.equal(parentOf('user-in-hop-2'), id('request'), 'the callback runs in the requester\'s context')
  assert.equal(parentOf('chain:3'), id('user-in-hop-2'))
  assert.equal(parentOf('chain:4'), id('chain:3'))
  const traceIds = new Set(spans.map((s) => s.spanContext().traceId))
  assert.equal(traceIds.size, 1, 'one trace')
})

test('tracked async work: a span per run; a cancelled run ends with status ERROR', async () => {
  nat.otel.enable({ tracerProvider: provider, interval: 0 })
  // Keep libuv's pool (4 threads by default) busy so that the last run is
  // still queued when it is cancelled.
  const results = []
  let handles
  tracer.startActiveSpan('request', (span) => {
    handles = [0, 1, 2, 3, 4, 5].map((i) => c.work('otel:work', i, i < 4 ? 100 : 0, (cancelled, v) => results.push({ i, cancelled })))
    span.end()
  })
  const cancelled = handles.slice(4).map((h) => c.workCancel(h))
  await until(() => results.length === 6, 'completions')
  nat.otel.flush()
  const spans = byName(exporter.getFinishedSpans(), 'otel:work')
  assert.equal(spans.length, 6)
  const request = byName(exporter.getFinishedSpans(), 'request')[0]
  for (const s of spans) assert.equal(parentId(s), request.spanContext().spanId)
  const errors = spans.filter((s) => s.status.code === api.SpanStatusCode.ERROR)
  const nCancelled = results.filter((r) => r.cancelled).length
  assert.equal(nCancelled, cancelled.filter((r) => r === 0).length)
  assert.ok(nCancelled >= 1, `cancel results ${cancelled}`)
  assert.equal(errors.length, nCancelled)
  for (const s of errors) assert.equal(s.attributes['nat.aborted'], true)
})

test('items linked outside any span make no span, unless requireParentSpan is false', async () => {
  nat.otel.enable({ tracerProvider: provider, interval: 0 })
  const q = c.createQueue('otel:orphan', () => { done++ }, { poolThreads: 1 })
  let done = 0
  c.submit(q, 1, 0)
  await until(() => done === 1, 'callback')
  nat.otel.flush()
  assert.equal(byName(exporter.getFinishedSpans(), 'otel:orphan').length, 0)
  assert.equal(nat.otel.stats().skipped, 1)
  nat.otel.disable()
  nat.otel.enable({ tracerProvider: provider, interval: 0, requireParentSpan: false })
  c.submit(q, 2, 0)
  await until(() => done === 2, 'callback')
  c.release(q)
  nat.otel.flush()
  const spans = byName(exporter.getFinishedSpans(), 'otel:orphan')
  assert.equal(spans.length, 1)
  assert.equal(parentId(spans[0]), undefined, 'a root span')
})

test('the periodic drain builds spans without flush(); the program\'s own drain() takes nothing from the bridge', async () => {
  nat.otel.enable({ tracerProvider: provider, interval: 5 })
  const q = c.createQueue('otel:timer', () => { done++ }, { poolThreads: 1 })
  let done = 0
  tracer.startActiveSpan('request', (span) => { c.submit(q, 1, 0); span.end() })
  await until(() => byName(exporter.getFinishedSpans(), 'otel:timer').length === 1, 'the timer\'s drain')
  nat.otel.disable()
  nat.otel.enable({ tracerProvider: provider, interval: 0 })
  nat.drain()
  tracer.startActiveSpan('request', (span) => { c.submit(q, 2, 0); span.end() })
  await until(() => done === 2, 'callback')
  c.release(q)
  const mine = [...nat.drain()].filter((e) => e.site === 'otel:timer')
  assert.deepEqual(mine.map((e) => e.event), ['link', 'ready', 'executionBegin', 'executionEnd'], 'the program sees the item')
  assert.equal(nat.otel.flush(), 1, 'and so does the bridge')
  assert.equal(byName(exporter.getFinishedSpans(), 'otel:timer').length, 2)
  const consumers = nat.stats().consumers.map((x) => x.name)
  assert.ok(consumers.includes('otel'), `consumers: ${consumers}`)
})

test('the sampler decides: ParentBased(AlwaysOff) keeps native spans out, the context still flows', async () => {
  const { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, AlwaysOffSampler } = require('@opentelemetry/sdk-trace-base')
  const off = new InMemorySpanExporter()
  const p = new BasicTracerProvider({ sampler: new AlwaysOffSampler(), spanProcessors: [new SimpleSpanProcessor(off)] })
  nat.otel.enable({ tracerProvider: p, interval: 0 })
  const q = c.createQueue('otel:sampled', () => { done++ }, { poolThreads: 1 })
  let done = 0
  tracer.startActiveSpan('request', (span) => { c.submit(q, 1, 0); span.end() })
  await until(() => done === 1, 'callback')
  c.release(q)
  nat.otel.flush()
  assert.equal(off.getFinishedSpans().length, 0)
  assert.equal(nat.otel.stats().started, 1, 'a non-recording span was started')
})

test('bad options throw coded errors and leave the bridge off', () => {
  assert.throws(() => nat.otel.enable(), { name: 'TypeError', code: 'NAT_EINVAL' })
  assert.throws(() => nat.otel.enable({}), { name: 'TypeError', code: 'NAT_EINVAL' })
  assert.throws(() => nat.otel.enable({ tracerProvider: {} }), { name: 'TypeError', code: 'NAT_EINVAL' })
  assert.throws(() => nat.otel.enable({ tracerProvider: provider, bogus: 1 }), { name: 'TypeError', code: 'NAT_EINVAL' })
  assert.throws(() => nat.otel.enable({ tracerProvider: provider, interval: -1 }), { name: 'RangeError', code: 'NAT_ERANGE' })
  assert.throws(() => nat.otel.enable({ tracerProvider: provider, api: {} }), { name: 'TypeError', code: 'NAT_EINVAL' })
  assert.equal(nat.otel.enabled, false)
  assert.equal(nat.otel.flush(), 0)
  // Options are read from own properties only.
  Object.prototype.requireParentSpan = 'yes' // eslint-disable-line no-extend-native
  try {
    nat.otel.enable({ tracerProvider: provider, interval: 0 })
    assert.equal(nat.otel.enabled, true)
  } finally {
    delete Object.prototype.requireParentSpan
    nat.otel.disable()
  }
})

test('native threads read the requester\'s traceparent (task_traceparent, work_traceparent from the consumer fixture)', async () => {
  const q = c.createQueue('otel:tp', () => {}, { poolThreads: 1 })
  const ENOENT = nat.codes.NAT_ENOENT.errno
  // No provider registered: nothing captured.
  tracer.startActiveSpan('r0', (span) => {
    assert.equal(c.traceparentFromThread(q), ENOENT)
    span.end()
  })
  nat.otel.enable({ tracerProvider: provider, interval: 0 })
  let expected
  tracer.startActiveSpan('r1', (span) => {
    const sc = span.spanContext()
    expected = `00-${sc.traceId}-${sc.spanId}-01`
    assert.equal(c.traceparentFromThread(q), expected)
    span.end()
  })
  assert.equal(c.traceparentFromThread(q), ENOENT, 'outside any span: none')
  let fromPool
  tracer.startActiveSpan('r2', (span) => {
    const sc = span.spanContext()
    expected = `00-${sc.traceId}-${sc.spanId}-01`
    c.workTraceparent((v) => { fromPool = v })
    span.end()
  })
  await until(() => fromPool !== undefined, 'work')
  assert.equal(fromPool, expected)
  nat.otel.disable()
  assert.equal(c.traceparentFromThread(q), ENOENT, 'disable() unregisters the provider')

  // A provider of the program's own; junk answers are counted, not kept.
  const binding = require('../../lib/binding')
  const errorsBefore = binding.linkContextErrors()
  const answers = ['00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00', 'not a traceparent',
    '00-00000000000000000000000000000000-b7ad6b7169203331-01', '01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    '00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01', 42, undefined]
  const got = []
  for (const a of answers) {
    nat.setLinkContext(() => a)
    got.push(c.traceparentFromThread(q))
  }
  nat.setLinkContext(() => { throw new Error('provider failed') })
  got.push(c.traceparentFromThread(q))
  nat.setLinkContext(null)
  assert.deepEqual(got, [answers[0], ENOENT, ENOENT, ENOENT, ENOENT, ENOENT, ENOENT, ENOENT])
  assert.equal(binding.linkContextErrors() - errorsBefore, 6, 'junk, zero IDs, version, case, a number, a throw')
  assert.throws(() => nat.setLinkContext('x'), { name: 'TypeError', code: 'NAT_EINVAL' })
  assert.deepEqual(c.traceparentBadInput(), { nullTask: -1, nullWork: -1 })
  c.release(q)
})

// ---- OTLP/HTTP to a receiver that decodes the protobuf request ------------

function decoder () {
  // protobufjs code generated from the OpenTelemetry proto definitions,
  // as shipped in @opentelemetry/otlp-proto-exporter-base.
  const root = require('@opentelemetry/otlp-proto-exporter-base/build/src/generated/root.js')
  return root.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest
}

function startReceiver () {
  const Request = decoder()
  const spans = []
  const requests = []
  const server = http.createServer((req, res) => {
    const chunks = []
    req.on('data', (d) => chunks.push(d))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      requests.push({ url: req.url, type: req.headers['content-type'] })
      const msg = Request.decode(body)
      for (const rs of msg.resourceSpans) {
        for (const ss of rs.scopeSpans) {
          for (const s of ss.spans) {
            spans.push({
              name: s.name,
              scope: ss.scope && ss.scope.name,
              traceId: Buffer.from(s.traceId).toString('hex'),
              spanId: Buffer.from(s.spanId).toString('hex'),
              parentSpanId: Buffer.from(s.parentSpanId || []).toString('hex'),
              events: s.events.map((e) => e.name),
              attributes: Object.fromEntries(s.attributes.map((a) => [a.key, a.value]))
            })
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/x-protobuf' })
      res.end()
    })
  })
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({ server, spans, requests, url: `http://127.0.0.1:${server.address().port}/v1/traces` }))
  })
}

test('through the OTLP/HTTP protobuf exporter: the receiver decodes parent/child IDs of a native chain', async () => {
  const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto')
  const { BasicTracerProvider, BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base')
  const rx = await startReceiver()
  const otlp = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: rx.url }))] })
  const t = otlp.getTracer('app')
  nat.otel.enable({ tracerProvider: otlp, interval: 0 })
  const q2 = c.createQueue('otlp:second', () => { done = true }, { poolThreads: 1 })
  const q1 = c.createQueue('otlp:first', () => c.submit(q2, 2, 0), { poolThreads: 1 })
  let done = false
  let request
  t.startActiveSpan('request', (span) => {
    request = span.spanContext()
    c.submit(q1, 1, 0)
    span.end()
  })
  await until(() => done, 'the chain')
  c.release(q1)
  c.release(q2)
  nat.otel.flush()
  await otlp.forceFlush()
  await otlp.shutdown()
  rx.server.close()
  assert.ok(rx.requests.length >= 1)
  assert.equal(rx.requests[0].url, '/v1/traces')
  assert.equal(rx.requests[0].type, 'application/x-protobuf')
  const get = (name) => rx.spans.find((s) => s.name === name)
  const first = get('otlp:first')
  const second = get('otlp:second')
  assert.ok(first && second && get('request'), `got ${rx.spans.map((s) => s.name)}`)
  assert.equal(get('request').spanId, request.spanId)
  assert.equal(first.parentSpanId, request.spanId)
  assert.equal(second.parentSpanId, first.spanId)
  assert.equal(first.traceId, request.traceId)
  assert.equal(second.traceId, request.traceId)
  assert.equal(first.scope, 'napi-async-trace')
  assert.deepEqual(first.events, ['ready', 'executionBegin', 'executionEnd'])
  assert.equal(first.attributes['nat.site'].stringValue, 'otlp:first')
})
