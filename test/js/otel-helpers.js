'use strict'
// OpenTelemetry set up as an application would: a BasicTracerProvider with
// the SDK's InMemorySpanExporter behind a SimpleSpanProcessor, registered
// globally with the AsyncLocalStorage context manager.
const path = require('node:path')
const fs = require('node:fs')
const { spawnSync } = require('node:child_process')
const api = require('@opentelemetry/api')
const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks')
const { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base')
const { root } = require('./helpers')

function setupOtel () {
  const exporter = new InMemorySpanExporter()
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
  api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
  api.trace.setGlobalTracerProvider(provider)
  const tracer = api.trace.getTracer('otel-test')
  return { api, provider, exporter, tracer }
}

// The parent span ID of a finished span (SDK 2: parentSpanContext).
function parentId (span) {
  return span.parentSpanContext ? span.parentSpanContext.spanId : undefined
}

// The raw fixture (test/fixtures/raw): plain Node-API, no engine header.
const rawDir = path.join(root, 'test', 'fixtures', 'raw')
const rawPath = path.join(rawDir, 'build', 'Release', 'raw.node')
function loadRaw () {
  const src = path.join(rawDir, 'raw.c')
  const built = fs.existsSync(rawPath) ? fs.statSync(rawPath).mtimeMs : 0
  if (fs.statSync(src).mtimeMs >= built) {
    const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'build.js'), '--dir', rawDir], { encoding: 'utf8' })
    if (r.status !== 0) throw new Error(`building the raw fixture failed:\n${r.stdout}\n${r.stderr}`)
  }
  return require(rawPath)
}

module.exports = { setupOtel, parentId, loadRaw }
