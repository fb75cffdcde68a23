#!/usr/bin/env node
'use strict'
// What the bridges cost, side by side (benchmarks only: nothing here is a
// test). One tracked queue streams ITEMS tasks (bench/addon's queueRun,
// per-task contexts, 1024 in flight, a native thread making them ready)
// while the engine records and drains, in variants:
//
//   base         the engine built from another commit (--baseline REV,
//                e.g. the one before the bridges) with its own bench addon:
//                what "no bridge" cost before the hooks existed
//   off          this engine, recording, no bridge, no subscriber
//   channel      + a TracingChannel subscriber (five no-op handlers)
//   traceparent  + nat.setLinkContext() (a constant traceparent)
//   spans        + nat.otel.enable(): a span per item through a
//                BasicTracerProvider and a BatchSpanProcessor whose
//                exporter drops what it gets; every item linked inside an
//                active span
//   unsampled    the same with the AlwaysOffSampler: every span is
//                started and dropped by the sampler (non-recording)
//
// Each measurement runs in a fresh process; variants are interleaved round
// by round so that drift on the machine hits all of them alike; the table
// gives the median and the min..max spread of items/s, wall-clock ns per
// item, and CPU ns per item (all threads of the process: the figure that
// holds up on a busy machine, where wall clock moves with the neighbours).
//
//   node bench/otel.js [--runs N] [--items N] [--baseline REV]
const { spawnSync, execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const root = path.join(__dirname, '..')

// ---- the child: one measurement --------------------------------------------

async function child (variant, items, engineRoot) {
  const nat = require(engineRoot)
  const bench = require(path.join(engineRoot, 'bench', 'addon', 'build', 'Release', 'bench.node'))
  const DRAIN_EVERY = 16384
  let tracer = null
  let provider = null
  if (variant === 'channel') {
    const noop = () => {}
    require('node:diagnostics_channel').tracingChannel('napi-async-trace:work')
      .subscribe({ start: noop, end: noop, asyncStart: noop, asyncEnd: noop, error: noop })
  } else if (variant === 'traceparent') {
    const tp = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'
    nat.setLinkContext(() => tp)
  } else if (variant === 'spans' || variant === 'unsampled') {
    const api = require('@opentelemetry/api')
    const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks')
    const { BasicTracerProvider, BatchSpanProcessor, AlwaysOffSampler } = require('@opentelemetry/sdk-trace-base')
    let exported = 0
    const exporter = {
      export (spans, done) { exported += spans.length; done({ code: 0 }) },
      shutdown () { return Promise.resolve() }
    }
    provider = new BasicTracerProvider({
      sampler: variant === 'unsampled' ? new AlwaysOffSampler() : undefined,
      spanProcessors: [new BatchSpanProcessor(exporter, { maxQueueSize: 1 << 16, maxExportBatchSize: 4096, scheduledDelayMillis: 50 })]
    })
    api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
    api.trace.setGlobalTracerProvider(provider)
    tracer = api.trace.getTracer('bench')
    nat.otel.enable({ tracerProvider: provider, interval: 100 })
    child.exported = () => exported
  }
  nat.enable({ capacity: 1 << 18 })
  const drain = tracer !== null ? () => { nat.drain(); nat.otel.flush() } : () => nat.drain()

  const run = (n) => new Promise((resolve) => {
    let seen = 0
    const cb = () => { if ((++seen & (DRAIN_EVERY - 1)) === 0) drain() }
    const c0 = process.cpuUsage()
    const t0 = process.hrtime.bigint()
    const go = () => bench.queueRun('task', n, 1024, cb, () => {
      drain()
      const ns = Number(process.hrtime.bigint() - t0)
      const c = process.cpuUsage(c0)
      resolve({ ns, cpuNs: (c.user + c.system) * 1000 })
    })
    if (tracer !== null) tracer.startActiveSpan('bench', (span) => { go(); span.end() })
    else go()
  })
  await run(20000) // warm-up
  const { ns, cpuNs } = await run(items)
  const out = { variant, items, ns, itemsPerSec: items / (ns / 1e9), nsPerItem: ns / items, cpuNsPerItem: cpuNs / items }
  if (tracer !== null) {
    await provider.forceFlush()
    out.spans = nat.otel.stats().ended
    out.exported = child.exported()
  }
  process.stdout.write(JSON.stringify(out) + '\n')
}

// ---- the parent ------------------------------------------------------------

function median (xs) {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

function buildIn (dir) {
  const script = path.join(dir, 'scripts', 'build.js')
  for (const args of [[], ['--dir', path.join(dir, 'bench', 'addon')]]) {
    const r = spawnSync(process.execPath, [script, ...args], { cwd: dir, encoding: 'utf8' })
    if (r.status !== 0) throw new Error(`building in ${dir} failed:\n${r.stdout}\n${r.stderr}`)
  }
}

// A copy of the package at `rev`, built, in a temporary directory.
function baselineTree (rev) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nat-bench-base-'))
  execFileSync('sh', ['-c', `git -C "${root}" archive "${rev}" | tar -x -C "${dir}"`])
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'))
  buildIn(dir)
  return dir
}

function main () {
  const args = process.argv.slice(2)
  const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt }
  const runs = Number(opt('--runs', '5'))
  const items = Number(opt('--items', '500000'))
  const baseline = opt('--baseline', null)
  buildIn(root)
  const engines = { off: root, channel: root, traceparent: root, spans: root, unsampled: root }
  let baseDir = null
  if (baseline !== null) {
    baseDir = baselineTree(baseline)
    engines.base = baseDir
  }
  const variants = Object.keys(engines).sort((a, b) => (a === 'base' ? -1 : b === 'base' ? 1 : 0))
  const results = Object.fromEntries(variants.map((v) => [v, []]))
  try {
    for (let r = 0; r < runs; r++) {
      for (const v of variants) {
        const c = spawnSync(process.execPath, [__filename, '--child', v, String(items), engines[v]],
          { cwd: root, encoding: 'utf8', timeout: 600000 })
        if (c.status !== 0) throw new Error(`${v} failed (${c.status} ${c.signal}):\n${c.stderr}`)
        results[v].push(JSON.parse(c.stdout.trim().split('\n').pop()))
      }
      process.stderr.write(`round ${r + 1}/${runs}: ` +
        variants.map((v) => `${v} ${results[v][r].cpuNsPerItem.toFixed(0)} CPU ns/item`).join(', ') + '\n')
    }
  } finally {
    if (baseDir !== null) fs.rmSync(baseDir, { recursive: true, force: true })
  }
  const ref = median(results.off.map((x) => x.cpuNsPerItem))
  console.log(`node ${process.version}, ${os.cpus().length} CPUs, ${items} items per run, ${runs} runs interleaved` +
    (baseline !== null ? `, base = ${baseline}` : ''))
  console.log('| variant | items/s (median, min..max) | wall ns/item | CPU ns/item (median, min..max) | CPU vs off |')
  console.log('| --- | --- | --- | --- | --- |')
  for (const v of variants) {
    const ips = results[v].map((x) => x.itemsPerSec)
    const nsi = results[v].map((x) => x.nsPerItem)
    const cpu = results[v].map((x) => x.cpuNsPerItem)
    const m = median(cpu)
    console.log(`| ${v} | ${(median(ips) / 1e6).toFixed(3)} M (${(Math.min(...ips) / 1e6).toFixed(3)}..${(Math.max(...ips) / 1e6).toFixed(3)}) | ` +
      `${median(nsi).toFixed(0)} | ${m.toFixed(0)} (${Math.min(...cpu).toFixed(0)}..${Math.max(...cpu).toFixed(0)}) | ` +
      `${m >= ref ? '+' : ''}${(m - ref).toFixed(0)} ns |`)
  }
  const s = results.spans.map((x) => `${x.spans}/${x.exported}`)
  console.log(`spans ended/exported per spans run: ${s.join(', ')}`)
}

if (process.argv[2] === '--child') {
  child(process.argv[3], Number(process.argv[4]), process.argv[5]).catch((err) => {
    process.stderr.write(`${err.stack}\n`)
    process.exit(1)
  })
} else {
  main()
}
