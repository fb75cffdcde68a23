#!/usr/bin/env node
'use strict'
// `npm run bench:addons`: the cost of zero-code tracing on real addons,
// side by side in one run. Benchmarks only: nothing here is a test.
//
//   node bench/addons.js [--rounds N] [--quick] [--only bcrypt,level,tsfn]
//
// Workloads (each in a fresh child process per measurement; the timed
// part repeats a pass `reps` times so that it lasts about 0.3 s or more):
//   bcrypt   bcrypt.hash, cost 4, 16 in flight, 3000      hashes/s
//   level    classic-level db.get of a small value,
//            64 in flight, 100k                           gets/s
//   tsfn     a native thread feeding a threadsafe function
//            (test/fixtures/plain), 6 passes of 200k      items/s
// Variants:
//   plain    napi-async-trace not loaded
//   off      addons rebound, recording off (the wrappers pass through)
//   on       addons rebound, recording on, drained every 20 ms on the
//            program's own thread (nat.drain())
//   record   what `napi-async-trace record` runs: the recorder, whose
//            Worker drains every 20 ms, compresses and writes a trace
//            file (records it cannot keep up with are counted as lost)
// Rounds interleave every (workload, variant) in a rotating order, so
// drift on the machine hits all alike; the table gives the median and the
// min..max spread of each (and that spread as a share of the median), and
// each variant's overhead against plain (1 - median / median of plain).
// Next to the wall-clock rate, the CPU time the whole process spent per
// item (process.cpuUsage over the timed part: the JS thread, the pool and
// the addon's threads): on a shared machine it moves much less with the
// load than the rate does, so it tells a real cost from a noisy round.
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const root = path.join(__dirname, '..')
const args = process.argv.slice(2)
const quick = args.includes('--quick')
const roundsArg = args.indexOf('--rounds')
const ROUNDS = roundsArg >= 0 ? Number(args[roundsArg + 1]) : (quick ? 2 : 7)
const onlyArg = args.indexOf('--only')
const ONLY = onlyArg >= 0 ? args[onlyArg + 1].split(',') : null
const SCALE = quick ? 0.2 : 1

// count: items per pass; reps: timed passes (the rate is over all of them).
// A tsfn pass of 200k items takes about 60 ms: six of them make the timed
// part long enough to smooth the scheduler out, while one pass still
// queues no more than 200k items (the wrappers' arena holds about 1M).
const WORKLOADS = {
  bcrypt: { unit: 'hashes/s', count: Math.round(3000 * SCALE), reps: 1, needs: 'bcrypt' },
  level: { unit: 'gets/s', count: Math.round(100000 * SCALE), reps: 1, needs: 'classic-level' },
  tsfn: { unit: 'items/s', count: Math.round(200000 * SCALE), reps: 6, needs: null }
}
const VARIANTS = ['plain', 'off', 'on', 'record']

// ---- the child: one measurement --------------------------------------------

async function childMain (workload, variant, count, reps) {
  let nat = null
  let timer = null
  let rec = null
  let recDir = null
  if (variant === 'record') {
    // What `napi-async-trace record` runs in the program: the recorder,
    // whose Worker drains, compresses and writes the trace file.
    nat = require(root)
    recDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nat-bench-rec-'))
    rec = nat.recorder(path.join(recDir, 'trace.nat'), { addons: true })
  } else if (variant !== 'plain') {
    nat = require(root)
    nat.enable({ addons: true })
    if (variant === 'off') nat.disable()
    else timer = setInterval(() => nat.drain(), 20)
  }
  let run
  if (workload === 'bcrypt') {
    const bcrypt = require('bcrypt')
    const salt = bcrypt.genSaltSync(4)
    run = () => inFlight(count, 16, () => bcrypt.hash('password', salt))
  } else if (workload === 'level') {
    const { ClassicLevel } = require('classic-level')
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nat-bench-level-'))
    const db = new ClassicLevel(dir)
    await db.open()
    for (let i = 0; i < 1000; i++) await db.put(`k${i}`, `value ${i}`)
    let i = 0
    run = async () => {
      await inFlight(count, 64, () => db.get(`k${i++ % 1000}`))
    }
    process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }))
  } else {
    const p = require(path.join(root, 'test', 'fixtures', 'plain', 'build', 'Release', 'plain.node'))
    run = () => new Promise((resolve) => {
      let n = 0
      p.feed(() => { if (++n === count) resolve() }, count, false, false, false)
    })
  }
  await run() // warm-up at full size: the JIT and the pools settle
  const cpu0 = process.cpuUsage()
  const t0 = process.hrtime.bigint()
  for (let r = 0; r < reps; r++) await run()
  const ns = Number(process.hrtime.bigint() - t0)
  const cpu = process.cpuUsage(cpu0)
  if (timer) clearInterval(timer)
  const stats = nat ? nat.stats() : null
  if (rec !== null) {
    rec.stop({ reason: 'bench' })
    fs.rmSync(recDir, { recursive: true, force: true })
  }
  const items = count * reps
  process.stdout.write(JSON.stringify({
    rate: items / (ns / 1e9),
    cpuNs: (cpu.user + cpu.system) * 1000 / items,
    seconds: ns / 1e9,
    dropped: stats ? stats.dropped : 0
  }) + '\n')
  process.exit(0)
}

async function inFlight (total, width, op) {
  let started = 0
  const lane = async () => { while (started < total) { started++; await op() } }
  await Promise.all(Array.from({ length: width }, lane))
}

// ---- the parent: rounds and the table --------------------------------------

function median (xs) {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

function measure (workload, variant) {
  const r = spawnSync(process.execPath, [__filename, '--child', workload, variant, String(WORKLOADS[workload].count), String(WORKLOADS[workload].reps)],
    { cwd: root, encoding: 'utf8', timeout: 300000 })
  if (r.status !== 0) throw new Error(`${workload}/${variant} failed (${r.status} ${r.signal}):\n${r.stderr}`)
  return JSON.parse(r.stdout.trim().split('\n').pop())
}

function fmt (x) {
  return x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)}k` : x.toFixed(0)
}

function parentMain () {
  const { ensure } = require('../scripts/addons-setup')
  require('../test/js/addons-helpers').buildPlain()
  const workloads = Object.keys(WORKLOADS).filter((w) => ONLY === null || ONLY.includes(w)).filter((w) => {
    const why = WORKLOADS[w].needs === null ? null : ensure(WORKLOADS[w].needs)
    if (why !== null) process.stderr.write(`skipping ${w}: ${why}\n`)
    return why === null
  })
  const pairs = []
  for (const w of workloads) for (const v of VARIANTS) pairs.push([w, v])
  const results = new Map(pairs.map(([w, v]) => [`${w}/${v}`, []]))
  const cpus = new Map(pairs.map(([w, v]) => [`${w}/${v}`, []]))
  const seconds = new Map(workloads.map((w) => [w, []]))
  let dropped = 0
  for (let round = 0; round < ROUNDS; round++) {
    process.stderr.write(`round ${round + 1}/${ROUNDS}\n`)
    // Rotate the order each round.
    for (let k = 0; k < pairs.length; k++) {
      const [w, v] = pairs[(k + round) % pairs.length]
      const m = measure(w, v)
      results.get(`${w}/${v}`).push(m.rate)
      cpus.get(`${w}/${v}`).push(m.cpuNs)
      seconds.get(w).push(m.seconds)
      dropped += m.dropped
    }
  }
  const load = os.loadavg().map((x) => x.toFixed(2)).join(' ')
  const lines = [`zero-code tracing on real addons: ${ROUNDS} rounds, Node ${process.version}, ${os.cpus().length} CPUs, load average at the end ${load}`,
    '', 'workload  variant  median          min..max (spread)          overhead   cpu/item  cpu overhead']
  for (const w of workloads) {
    const base = median(results.get(`${w}/plain`))
    const cpuBase = median(cpus.get(`${w}/plain`))
    for (const v of VARIANTS) {
      const xs = results.get(`${w}/${v}`)
      const med = median(xs)
      const spread = `${fmt(Math.min(...xs))}..${fmt(Math.max(...xs))} (${((Math.max(...xs) - Math.min(...xs)) / med * 100).toFixed(0)}%)`
      const over = v === 'plain' ? '' : `${((1 - med / base) * 100).toFixed(1)}%`
      const cpu = median(cpus.get(`${w}/${v}`))
      const cpuOver = v === 'plain' ? '' : `${((cpu / cpuBase - 1) * 100).toFixed(1)}%`
      lines.push(`${w.padEnd(9)} ${v.padEnd(8)} ${`${fmt(med)} ${WORKLOADS[w].unit}`.padEnd(15)} ${spread.padEnd(26)} ${over.padEnd(10)} ${`${cpu.toFixed(0)} ns`.padEnd(9)} ${cpuOver}`)
    }
  }
  lines.push('', 'overhead: 1 - median rate / median rate of plain (target with recording on: <= 5%);',
    'cpu/item: median process CPU time (all threads) per item; cpu overhead against plain.',
    `timed part per run: ${workloads.map((w) => `${w} ${median(seconds.get(w)).toFixed(2)} s`).join(', ')}`)
  if (dropped > 0) lines.push('', `note: ${dropped} records dropped across the 'on' runs (ring full between drains)`)
  process.stdout.write(lines.join('\n') + '\n')
}

if (args[0] === '--child') {
  childMain(args[1], args[2], Number(args[3]), Number(args[4] || 1)).catch((err) => { console.error(err); process.exit(1) })
} else {
  parentMain()
}
