#!/usr/bin/env node
'use strict'
// napi-async-trace with OpenTelemetry: spans of a native chain sent through
// the OTLP/HTTP exporter, received here and printed as a tree.
//
//   node examples/otel
//
// A "request" span hashes a file in three chunks with the example addon
// (examples/hash: SHA-256 on native threads): each chunk is hashed from the
// previous chunk's callback, a chain of native work items. The bridge
// (nat.otel) makes one span per item, under the span that asked for it; the
// spans go to an OTLP/HTTP receiver on loopback (in this process, standing
// in for a collector, Jaeger or Tempo), which prints what it was sent.
const http = require('node:http')
const api = require('@opentelemetry/api')
const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks')
const { BasicTracerProvider, BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base')
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http')
const nat = require('napi-async-trace')
const { createHasher } = require('../hash')

// ---- a stand-in collector: OTLP/HTTP (JSON) on loopback ---------------------

function startReceiver () {
  const spans = []
  const server = http.createServer((req, res) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => {
      // OTLP/JSON: resourceSpans[].scopeSpans[].spans[], IDs in hex.
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
      for (const rs of body.resourceSpans || []) {
        for (const ss of rs.scopeSpans || []) {
          for (const s of ss.spans || []) spans.push({ ...s, scope: ss.scope && ss.scope.name })
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end('{}')
    })
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    resolve({ server, spans, url: `http://127.0.0.1:${server.address().port}/v1/traces` })
  }))
}

// The received spans as an indented tree (children by start time).
function printTree (spans, out = console.log) {
  const byParent = new Map()
  const ids = new Set(spans.map((s) => s.spanId))
  for (const s of spans) {
    const p = s.parentSpanId && ids.has(s.parentSpanId) ? s.parentSpanId : ''
    if (!byParent.has(p)) byParent.set(p, [])
    byParent.get(p).push(s)
  }
  const ns = (s) => BigInt(s.startTimeUnixNano)
  const ms = (s) => Number(BigInt(s.endTimeUnixNano) - ns(s)) / 1e6
  const attr = (s, k) => {
    const a = (s.attributes || []).find((x) => x.key === k)
    return a === undefined ? undefined : Number(a.value.intValue ?? a.value.doubleValue ?? a.value.stringValue)
  }
  // Roots flush left; each child under its parent with a branch.
  const walk = (parent, indent, root) => {
    const kids = (byParent.get(parent) || []).sort((a, b) => (ns(a) < ns(b) ? -1 : 1))
    kids.forEach((s, i) => {
      const last = i === kids.length - 1
      const waits = s.scope === 'napi-async-trace'
        ? `  (queue wait ${(attr(s, 'nat.queue_wait_ns') / 1e6).toFixed(3)} ms, loop wait ${(attr(s, 'nat.loop_wait_ns') / 1e6).toFixed(3)} ms, callback ${(attr(s, 'nat.run_ns') / 1e6).toFixed(3)} ms)`
        : ''
      const branch = root ? '' : last ? '└─ ' : '├─ '
      out(`${indent}${branch}${s.name}  ${ms(s).toFixed(3)} ms  [${s.spanId}]${waits}`)
      walk(s.spanId, root ? '' : indent + (last ? '   ' : '│  '), false)
    })
  }
  walk('', '', true)
}

async function main () {
  const rx = await startReceiver()

  // The application's OpenTelemetry set-up, as it would have it anyway.
  api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
  const provider = new BasicTracerProvider({
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: rx.url }))]
  })
  api.trace.setGlobalTracerProvider(provider)
  const tracer = api.trace.getTracer('example-app')

  // The line this package adds: native work items become spans.
  nat.otel.enable({ tracerProvider: provider })

  const hasher = createHasher({ threads: 2 })
  const data = Buffer.alloc(3 << 20, 7)
  const chunks = [data.subarray(0, 1 << 20), data.subarray(1 << 20, 2 << 20), data.subarray(2 << 20)]

  await new Promise((resolve, reject) => {
    tracer.startActiveSpan('GET /digest', (request) => {
      const digests = []
      const next = (i) => hasher.hash(chunks[i], (err, hex) => {
        if (err) return reject(err)
        digests.push(hex)
        if (i === 1) {
          // Code in a native callback sees the request's context: its own
          // span lands in the same trace, and the next hop goes under it.
          tracer.startActiveSpan('verify chunk', (span) => {
            next(i + 1)
            span.end()
          })
        } else if (i + 1 < chunks.length) {
          next(i + 1)
        } else {
          request.end()
          resolve(digests)
        }
      })
      next(0)
    })
  })
  hasher.close()

  nat.otel.flush() // spans of everything recorded so far
  await provider.forceFlush() // and send them now
  await provider.shutdown()
  nat.otel.disable()
  rx.server.close()

  console.log(`received ${rx.spans.length} spans in ${new Set(rx.spans.map((s) => s.traceId)).size} trace(s):`)
  printTree(rx.spans)
  return rx.spans
}

module.exports = { main, printTree, startReceiver }

if (require.main === module) {
  main().catch((err) => {
    console.error(err)
    process.exitCode = 1
  })
}
