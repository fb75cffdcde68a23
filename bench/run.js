#!/usr/bin/env node
'use strict'
// `npm run bench`: every figure of issue 6 next to its baseline, in one
// run. Builds bench/core (make) and bench/addon (scripts/build.js --dir),
// runs each variant in a fresh child process several times (variants
// interleaved, so drift on the machine hits all alike), takes medians,
// prints a table with each ratio beside its target and writes
// bench/results.json. Benchmarks only: nothing here is a test.
//
//   node bench/run.js [--runs N] [--quick]
//
// --quick: fewer items and runs, to try the harness (figures not quoted).
const { spawnSync, execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const root = path.join(__dirname, '..')
const args = process.argv.slice(2)
const quick = args.includes('--quick')
const runsArg = args.indexOf('--runs')
const RUNS = runsArg >= 0 ? Number(args[runsArg + 1]) : (quick ? 1 : 5)
// --only core,queue,seed,work,drain,graph: a subset of the sections.
const onlyArg = args.indexOf('--only')
const ONLY = onlyArg >= 0 ? args[onlyArg + 1].split(',') : null
const want = (section) => ONLY === null || ONLY.includes(section)
const QUEUE_ITEMS = quick ? 100000 : 1000000
const WORK_ITEMS = quick ? 20000 : 200000
const SEED_ITEMS = quick ? 100000 : 500000
const EVENTS = 1000000

function log (msg) { process.stderr.write(msg + '\n') }

function median (xs) {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

// ---- build ---------------------------------------------------------------

function build () {
  log('building bench/core ...')
  execFileSync('make', ['-s', '-C', path.join(__dirname, 'core')], { stdio: ['ignore', 'ignore', 'inherit'] })
  const addon = path.join(__dirname, 'addon')
  const bin = path.join(addon, 'build', 'Release', 'bench.node')
  const inputs = [path.join(addon, 'bench.c'), path.join(addon, 'binding.gyp'),
    path.join(root, 'include', 'napi_async_trace.h'), path.join(root, 'include', 'napi_async_trace_defs.h')]
  const built = fs.existsSync(bin) ? fs.statSync(bin).mtimeMs : 0
  if (!inputs.every((f) => fs.statSync(f).mtimeMs < built)) {
    log('building bench/addon ...')
    const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'build.js'), '--dir', addon], { encoding: 'utf8' })
    if (r.status !== 0) throw new Error(`building bench/addon failed:\n${r.stdout}\n${r.stderr}`)
  }
  if (!fs.existsSync(path.join(root, 'build', 'Release', 'napi_async_trace.node'))) {
    throw new Error('the addon is not built: run npm install first')
  }
}

// ---- measuring -----------------------------------------------------------

function child (kind, variant, count, nodeArgs = []) {
  const r = spawnSync(process.execPath, [...nodeArgs, path.join(__dirname, 'child.js'), kind, variant, String(count)],
    { cwd: root, encoding: 'utf8', timeout: 180000 })
  if (r.status !== 0) throw new Error(`bench/child.js ${kind} ${variant} failed (${r.status} ${r.signal}):\n${r.stderr}`)
  return JSON.parse(r.stdout.trim().split('\n').pop())
}

// Runs every variant RUNS times, interleaved; returns { variant: [result] }.
function interleaved (kind, variants, count) {
  const res = Object.fromEntries(variants.map((v) => [v, []]))
  for (let r = 0; r < RUNS; r++) {
    for (const v of variants) res[v].push(child(kind, v, count))
    log(`  ${kind} run ${r + 1}/${RUNS}: ` + variants.map((v) => `${v} ${(res[v][r].itemsPerSec / 1e6).toFixed(3)} M/s`).join(', '))
  }
  return res
}

function core () {
  log('figures 1, 2: bench/core ...')
  const out = execFileSync(path.join(__dirname, 'core', 'out', 'bench_core'),
    ['--runs', String(quick ? 3 : 7), '--events', String(quick ? 1 << 20 : 4 << 20)], { encoding: 'utf8' })
  return JSON.parse(out)
}

// ---- the table -----------------------------------------------------------

const rows = []
// cmp: '<=' or '>='; ok is null when there is no target.
function row (figure, what, value, unit, baseline, ratio, target, cmp) {
  let ok = null
  if (target !== null && target !== undefined) {
    const v = ratio !== null && ratio !== undefined ? ratio : value
    ok = cmp === '<=' ? v <= target : v >= target
  }
  rows.push({ figure, what, value, unit, baseline, ratio, target: target === undefined ? null : target, cmp: cmp || null, ok })
}

// Rates (units ending in /s) in millions; everything else as is.
function fmt (x, unit = '', digits = 2) {
  if (x === null || x === undefined) return ''
  if (typeof x === 'string') return x
  if (unit.endsWith('/s')) return `${(x / 1e6).toFixed(3)} M ${unit}`
  return `${x.toFixed(digits)} ${unit}`.trim()
}

function printTable () {
  const head = ['#', 'figure', 'measured', 'baseline', 'ratio', 'target', 'met']
  const lines = rows.map((r) => [
    String(r.figure), r.what,
    r.value === null ? 'n/a' : fmt(r.value, r.unit),
    r.baseline === null || r.baseline === undefined ? '' : fmt(r.baseline, r.unit),
    r.ratio === null || r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}x`,
    r.target === null ? '' : `${r.cmp} ${r.ratio !== null && r.ratio !== undefined ? r.target + 'x' : fmt(r.target, r.unit)}`,
    r.ok === null ? '' : (r.ok ? 'yes' : 'NO')
  ])
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)))
  const fmtLine = (l) => l.map((c, i) => (i === 1 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')
  const text = [fmtLine(head), widths.map((w) => '-'.repeat(w)).join('  '), ...lines.map(fmtLine)].join('\n')
  process.stdout.write(text + '\n')
  return text
}

function machine () {
  let gcc = ''
  try { gcc = execFileSync('gcc', ['--version'], { encoding: 'utf8' }).split('\n')[0] } catch {}
  let debian = ''
  try { debian = fs.readFileSync('/etc/debian_version', 'utf8').trim() } catch {}
  return {
    cpu: os.cpus()[0] && os.cpus()[0].model,
    cores: os.cpus().length,
    memoryBytes: os.totalmem(),
    os: `${os.type()} ${os.release()}`,
    debian,
    node: process.version,
    gcc,
    clocksource: (() => { try { return fs.readFileSync('/sys/devices/system/clocksource/clocksource0/current_clocksource', 'utf8').trim() } catch { return '' } })()
  }
}

// ---- main ----------------------------------------------------------------

function main () {
  const started = Date.now()
  build()
  const results = { date: new Date().toISOString(), machine: machine(), runs: RUNS, quick, figures: {} }
  // Other work on the machine skews wall-clock ratios: recorded, so a
  // reader can tell a quiet run from a busy one.
  results.loadAverageAtStart = os.loadavg()

  // 1, 2: record cost, cost when disabled.
  const c = want('core') ? core() : null
  if (c !== null) {
  results.figures.core = c
  row(1, 'record, 1 thread (ns/event)', c.event_ns_1thread, 'ns', null, null, 15, '<=')
  row(1, 'record, 2 threads (ns/event/thread)', c.event_ns_2threads, 'ns', c.event_ns_1thread,
    c.event_2threads_over_1, 1.3, '<=')
  row(1, '  CPU ns/event, 1 thread / 2 threads', c.event_cpu_ns_1thread, 'ns', null,
    c.event_cpu_2threads_over_1, null)
  row(1, `  of which the stamp (${c.stamp_source}) (ns)`, c.clock_ns, 'ns', null, null, null)
  row(1, '  emit without new ID, 2 thr vs 1', c.emit_ns_2threads, 'ns', c.emit_ns_1thread,
    c.emit_ns_2threads / c.emit_ns_1thread, null)
  row(2, 'disabled, per hook point (ns)', c.disabled_call_ns, 'ns', null, null, 2, '<=')
  }

  // 3: tracked queues vs raw tsfn (and raw tsfn + empty async_hooks).
  let q = null
  if (want('queue')) {
  log(`figure 3: queues, ${QUEUE_ITEMS} items x ${RUNS} runs ...`)
  q = interleaved('queue', ['raw', 'hooks', 'shared', 'task'], QUEUE_ITEMS)
  const qm = Object.fromEntries(Object.entries(q).map(([k, v]) => [k, median(v.map((x) => x.itemsPerSec))]))
  results.figures.queue = { items: QUEUE_ITEMS, medianItemsPerSec: qm, runs: q }
  row(3, 'raw tsfn (items/s)', qm.raw, 'items/s', null, null, null)
  row(3, 'raw tsfn + empty async_hooks', qm.hooks, 'items/s', qm.raw, qm.hooks / qm.raw, null)
  row(3, 'tracked queue, shared context', qm.shared, 'items/s', qm.raw, qm.shared / qm.raw, 0.85, '>=')
  row(3, 'tracked queue, per-task context', qm.task, 'items/s', qm.raw, qm.task / qm.raw, 0.6, '>=')
  const cpu = (v) => median(q[v].map((x) => x.cpuNsPerItem))
  results.figures.queue.medianCpuNsPerItem = { raw: cpu('raw'), hooks: cpu('hooks'), shared: cpu('shared'), task: cpu('task') }
  row(3, '  CPU ns/item (all threads): raw', cpu('raw'), 'ns', null, null, null)
  row(3, '  CPU ns/item: raw + async_hooks', cpu('hooks'), 'ns', cpu('raw'), cpu('raw') / cpu('hooks'), null)
  row(3, '  CPU ns/item: shared', cpu('shared'), 'ns', cpu('raw'), cpu('raw') / cpu('shared'), null)
  row(3, '  CPU ns/item: per-task', cpu('task'), 'ns', cpu('raw'), cpu('raw') / cpu('task'), null)
  row(3, 'shared vs raw + async_hooks', qm.shared, 'items/s', qm.hooks, qm.shared / qm.hooks, 1, '>=')
  row(3, 'per-task vs raw + async_hooks', qm.task, 'items/s', qm.hooks, qm.task / qm.hooks, 1, '>=')
  }

  // Issue 13: the seed pattern (one native producer, non-blocking,
  // unbounded; call_js calls the same JS function with one int), the
  // hand-written per-item context, 4 producers.
  if (want('seed')) {
  log(`issue 13: seed pattern, ${SEED_ITEMS} items x ${RUNS} runs ...`)
  const sv = ['raw', 'hooks', 'shared', 'raw4', 'shared4', 'hand', 'task', 'sharedoff', 'taskoff', 'rawrec', 'rawrec4', 'handtramp', 'hooksjs']
  const sd = interleaved('seed', sv, SEED_ITEMS)
  const spread = (v) => {
    const xs = sd[v].map((x) => x.itemsPerSec)
    return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) }
  }
  // Ratio of medians, and the spread of per-round ratios (a round runs
  // every variant once, back to back).
  const ratio = (a, b) => {
    const rs = sd[a].map((x, i) => x.itemsPerSec / sd[b][i].itemsPerSec)
    return { median: spread(a).median / spread(b).median, min: Math.min(...rs), max: Math.max(...rs) }
  }
  const cpuOf = (v, f) => median(sd[v].map((x) => x[f]))
  results.figures.seed = {
    items: SEED_ITEMS,
    itemsPerSec: Object.fromEntries(sv.map((v) => [v, spread(v)])),
    jsCpuNsPerItem: Object.fromEntries(sv.map((v) => [v, cpuOf(v, 'jsCpuNsPerItem')])),
    producerCpuNsPerItem: Object.fromEntries(sv.map((v) => [v, cpuOf(v, 'producerCpuNsPerItem')])),
    ratios: {
      sharedVsRaw: ratio('shared', 'raw'),
      taskVsHand: ratio('task', 'hand'),
      taskVsHooks: ratio('task', 'hooks'),
      shared4VsRaw4: ratio('shared4', 'raw4')
    },
    runs: sd
  }
  const rr = results.figures.seed.ratios
  const rtxt = (x) => `${x.min.toFixed(2)}..${x.max.toFixed(2)}`
  row(13, 'seed: raw tsfn, 1 producer (items/s)', spread('raw').median, 'items/s', null, null, null)
  row(13, 'seed: shared-context tracked / raw', spread('shared').median, 'items/s', spread('raw').median, rr.sharedVsRaw.median, 0.95, '>=')
  row(13, `  per-round ratio min..max`, rtxt(rr.sharedVsRaw), '', null, null, null)
  row(13, 'seed: per-task (JS-linked in als.run) / hand-written ctx', spread('task').median, 'items/s', spread('hand').median, rr.taskVsHand.median, 0.9, '>=')
  row(13, `  per-round ratio min..max`, rtxt(rr.taskVsHand), '', null, null, null)
  row(13, 'seed: per-task / raw tsfn + empty async_hooks', spread('task').median, 'items/s', spread('hooks').median, rr.taskVsHooks.median, 1, '>=')
  row(13, `  per-round ratio min..max`, rtxt(rr.taskVsHooks), '', null, null, null)
  // The same JS workload as 'task' (als.run + a link per item from JS) on a
  // raw tsfn with the empty hook: the store is not carried there.
  results.figures.seed.ratios.taskVsHooksJs = ratio('task', 'hooksjs')
  row(13, 'seed: per-task / raw tsfn + empty hook, same JS-linked workload', spread('task').median, 'items/s', spread('hooksjs').median, rr.taskVsHooksJs.median, null)
  row(13, `  per-round ratio min..max`, rtxt(rr.taskVsHooksJs), '', null, null, null)
  results.figures.seed.ratios.sharedOffVsRaw = ratio('sharedoff', 'raw')
  results.figures.seed.ratios.taskOffVsHand = ratio('taskoff', 'hand')
  row(13, 'seed: shared, recording off / raw (the queue alone)', spread('sharedoff').median, 'items/s', spread('raw').median, rr.sharedOffVsRaw.median, null)
  row(13, 'seed: per-task, recording off / hand-written ctx', spread('taskoff').median, 'items/s', spread('hand').median, rr.taskOffVsHand.median, null)
  // The floor: the raw tsfn plus nothing but the four records per item
  // (public manual marks) and the same drains. No queue design that
  // records the model can beat it.
  results.figures.seed.ratios.rawRecVsRaw = ratio('rawrec', 'raw')
  row(13, 'seed: floor, raw tsfn + the 4 records only / raw', spread('rawrec').median, 'items/s', spread('raw').median, rr.rawRecVsRaw.median, null)
  row(13, `  per-round ratio min..max`, rtxt(rr.rawRecVsRaw), '', null, null, null)
  row(13, 'seed: shared / floor (raw + records)', spread('shared').median, 'items/s', spread('rawrec').median, ratio('shared', 'rawrec').median, null)
  row(13, 'seed: 4 producers, shared / raw', spread('shared4').median, 'items/s', spread('raw4').median, rr.shared4VsRaw4.median, 0.9, '>=')
  row(13, `  per-round ratio min..max`, rtxt(rr.shared4VsRaw4), '', null, null, null)
  results.figures.seed.ratios.rawRec4VsRaw4 = ratio('rawrec4', 'raw4')
  row(13, 'seed: floor, 4 producers, raw + the 4 records / raw', spread('rawrec4').median, 'items/s', spread('raw4').median, rr.rawRec4VsRaw4.median, null)
  row(13, `  per-round ratio min..max`, rtxt(rr.rawRec4VsRaw4), '', null, null, null)
  // The trampoline's price apart from the queue: the hand-written context
  // with call_js's C part run inside it (what Node 24+ requires).
  results.figures.seed.ratios.handTrampVsHand = ratio('handtramp', 'hand')
  results.figures.seed.ratios.taskVsHandTramp = ratio('task', 'handtramp')
  row(13, 'seed: hand-written ctx, C inside it via a native fn / hand', spread('handtramp').median, 'items/s', spread('hand').median, rr.handTrampVsHand.median, null)
  row(13, 'seed: per-task / that', spread('task').median, 'items/s', spread('handtramp').median, rr.taskVsHandTramp.median, null)
  // A free-running producer gets ahead of the drains and fills its ring:
  // those records are dropped (and counted), which also spares their drain.
  const dropped = (v) => median(sd[v].map((x) => x.dropped || 0))
  row(13, '  records dropped per run (rings full): shared / floor / task', `${dropped('shared')} / ${dropped('rawrec')} / ${dropped('task')}`, '', null, null, null)
  for (const v of sv) {
    row(13, `  CPU ns/item ${v}: JS thread / producers`,
      `${cpuOf(v, 'jsCpuNsPerItem').toFixed(0)} / ${cpuOf(v, 'producerCpuNsPerItem').toFixed(0)} ns`, '', null, null, null)
  }

  }

  // 4: tracked async work vs raw.
  if (want('work')) {
  log(`figure 4: async work, ${WORK_ITEMS} items x ${RUNS} runs ...`)
  const w = interleaved('work', ['raw', 'tracked'], WORK_ITEMS)
  const wm = Object.fromEntries(Object.entries(w).map(([k, v]) => [k, median(v.map((x) => x.itemsPerSec))]))
  results.figures.work = { items: WORK_ITEMS, medianItemsPerSec: wm, runs: w }
  row(4, 'raw napi_create_async_work (items/s)', wm.raw, 'items/s', null, null, null)
  const wr = w.tracked.map((x, i) => x.itemsPerSec / w.raw[i].itemsPerSec)
  row(4, 'tracked async work, 16 in flight / raw', wm.tracked, 'items/s', wm.raw, wm.tracked / wm.raw, 0.95, '>=')
  row(4, '  per-round ratio min..max', `${Math.min(...wr).toFixed(2)}..${Math.max(...wr).toFixed(2)}`, '', null, null, null)
  }

  // 5: drain and decode.
  if (want('drain')) {
  log('figure 5: drain and decode ...')
  const d = []
  for (let r = 0; r < Math.max(1, Math.min(RUNS, 3)); r++) d.push(child('drain', '-', EVENTS))
  const drainPerSec = median(d.map((x) => x.drainedPerSec))
  const decodePerSec = median(d.map((x) => x.decodedPerSec))
  results.figures.drain = { events: EVENTS, drainedPerSec: drainPerSec, decodedPerSec: decodePerSec, runs: d }
  row(5, 'drain rings -> ArrayBuffer (events/s)', drainPerSec, 'ev/s', null, null, 50e6, '>=')
  row(5, 'decode, iterate as objects (events/s)', decodePerSec, 'ev/s', null, null, 10e6, '>=')
  }

  // 6: graph build, when lib/graph.js has landed.
  if (want('graph')) {
  log('figure 6: graph ...')
  const g0 = child('graph', '-', EVENTS, ['--expose-gc'])
  if (!g0.available) {
    results.figures.graph = { available: false }
    row(6, 'graph build, 1M events: n/a (graph not available)', null, '', null, null, null)
  } else {
    const g = [g0]
    for (let r = 1; r < Math.min(RUNS, 3); r++) g.push(child('graph', '-', EVENTS, ['--expose-gc']))
    const gms = median(g.map((x) => x.ns)) / 1e6
    const grss = median(g.map((x) => x.maxRssBytes))
    const gheap = median(g.map((x) => x.heapRetainedBytes))
    results.figures.graph = { available: true, events: g0.events, ms: gms, peakRssBytes: grss, heapRetainedBytes: gheap, runs: g }
    row(6, `graph build, ${g0.events} events (ms)`, gms, 'ms', null, null, null)
    row(6, '  peak RSS of that process (MiB)', grss / 1048576, 'MiB', null, null, null)
    row(6, '  heap kept by the graph (MiB)', gheap / 1048576, 'MiB', null, null, null)
  }

  }

  // 7: memory.
  if (q !== null && c !== null) {
  const rssOf = (v) => median(q[v].map((x) => x.maxRssBytes)) / 1048576
  const bytesPerEvent = c.record_bytes
  results.figures.memory = {
    recordBytes: bytesPerEvent,
    ringBytesPerRecord: q.shared[0].ringBytes / (q.shared[0].rings * q.shared[0].capacity),
    peakRssMiB: { raw: rssOf('raw'), hooks: rssOf('hooks'), shared: rssOf('shared'), task: rssOf('task') },
    hotPathAllocations: c.hot_path_allocations
  }
  row(7, 'bytes per event in the rings', results.figures.memory.ringBytesPerRecord, 'B', null, null, null)
  row(7, `peak RSS, ${QUEUE_ITEMS} items: shared (MiB)`, rssOf('shared'), 'MiB', rssOf('raw'), rssOf('shared') / rssOf('raw'), null)
  row(7, `peak RSS, ${QUEUE_ITEMS} items: per-task (MiB)`, rssOf('task'), 'MiB', rssOf('raw'), rssOf('task') / rssOf('raw'), null)
  row(7, 'allocations per event, core hot path', c.hot_path_allocations, '', null, null, 0, '<=')
  }

  results.elapsedSeconds = (Date.now() - started) / 1000
  results.loadAverageAtEnd = os.loadavg()
  const text = printTable()
  results.table = text.split('\n')
  results.rows = rows
  process.stdout.write(`\nmachine: ${results.machine.cores} cores ${results.machine.cpu}, Debian ${results.machine.debian}, ` +
    `Node ${results.machine.node}, ${results.machine.gcc}; ${RUNS} runs per variant, medians; ` +
    `${results.elapsedSeconds.toFixed(0)} s; load average ${results.loadAverageAtStart[0].toFixed(2)} at start, ` +
    `${results.loadAverageAtEnd[0].toFixed(2)} at end\n` +
    'ratio: measured / baseline throughput (figure 1: 2-thread / 1-thread cost); CPU rows: baseline / measured CPU time per item\n')
  const file = path.join(__dirname, ONLY === null ? 'results.json' : `results-${ONLY.join('-')}-node${process.versions.node.split('.')[0]}.json`)
  fs.writeFileSync(file + '.tmp', JSON.stringify(results, null, 2) + '\n')
  fs.renameSync(file + '.tmp', file)
  process.stdout.write(`wrote ${path.relative(process.cwd(), file)}\n`)
}

main()
