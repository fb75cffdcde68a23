#!/usr/bin/env node
'use strict'
// `npm run bench:addons`: the cost of zero-code tracing on real addons,
// side by side in one run. Benchmarks only: nothing here is a test.
//
//   node bench/addons.js [--rounds N] [--quick]
//
// Workloads (each in a fresh child process per measurement):
//   bcrypt   bcrypt.hash, cost 4, 16 in flight          hashes/s
//   level    classic-level db.get of a small value,
//            64 in flight                                 gets/s
//   tsfn     a native thread feeding a threadsafe function
//            (test/fixtures/plain), 200k items            items/s
// Variants:
//   plain    napi-async-trace not loaded
//   off      addons rebound, recording off (the wrappers pass through)
//   on       addons rebound, recording on, drained every 20 ms as
//            `napi-async-trace record` does
// Rounds interleave every (workload, variant) in a rotating order, so
// drift on the machine hits all alike; the table gives the median and the
// min..max spread of each, and each variant's overhead against plain
// (1 - median / median of plain).
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const root = path.join(__dirname, '..')
const args = process.argv.slice(2)
const quick = args.includes('--quick')
const roundsArg = args.indexOf('--rounds')
const ROUNDS = roundsArg >= 0 ? Number(args[roundsArg + 1]) : (quick ? 2 : 7)
const SCALE = quick ? 0.2 : 1

const WORKLOADS = {
  bcrypt: { unit: 'hashes/s', count: Math.round(3000 * SCALE), needs: 'bcrypt' },
  level: { unit: 'gets/s', count: Math.round(100000 * SCALE), needs: 'classic-level' },
  tsfn: { unit: 'items/s', count: Math.round(200000 * SCALE), needs: null }
}
const VARIANTS = ['plain', 'off', 'on']

// ---- the child: one measurement --------------------------------------------

async function childMain (workload, variant, count) {
  let nat = null
  let timer = null
  if (variant !== 'plain') {
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
  const t0 = process.hrtime.bigint()
  await run()
  const ns = Number(process.hrtime.bigint() - t0)
  if (timer) clearInterval(timer)
  const stats = nat ? nat.stats() : null
  process.stdout.write(JSON.stringify({ rate: count / (ns / 1e9), dropped: stats ? stats.dropped : 0 }) + '\n')
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
  const r = spawnSync(process.execPath, [__filename, '--child', workload, variant, String(WORKLOADS[workload].count)],
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
  const workloads = Object.keys(WORKLOADS).filter((w) => {
    const why = WORKLOADS[w].needs === null ? null : ensure(WORKLOADS[w].needs)
    if (why !== null) process.stderr.write(`skipping ${w}: ${why}\n`)
    return why === null
  })
  const pairs = []
  for (const w of workloads) for (const v of VARIANTS) pairs.push([w, v])
  const results = new Map(pairs.map(([w, v]) => [`${w}/${v}`, []]))
  let dropped = 0
  for (let round = 0; round < ROUNDS; round++) {
    process.stderr.write(`round ${round + 1}/${ROUNDS}\n`)
    // Rotate the order each round.
    for (let k = 0; k < pairs.length; k++) {
      const [w, v] = pairs[(k + round) % pairs.length]
      const m = measure(w, v)
      results.get(`${w}/${v}`).push(m.rate)
      dropped += m.dropped
    }
  }
  const lines = [`zero-code tracing on real addons: ${ROUNDS} rounds, Node ${process.version}, ${os.cpus().length} CPUs`,
    '', 'workload  variant  median        min..max                overhead vs plain']
  for (const w of workloads) {
    const base = median(results.get(`${w}/plain`))
    for (const v of VARIANTS) {
      const xs = results.get(`${w}/${v}`)
      const med = median(xs)
      const over = v === 'plain' ? '' : `${((1 - med / base) * 100).toFixed(1)}%${v === 'on' ? ' (target <= 5%)' : ''}`
      lines.push(`${w.padEnd(9)} ${v.padEnd(8)} ${`${fmt(med)} ${WORKLOADS[w].unit}`.padEnd(13)} ${`${fmt(Math.min(...xs))}..${fmt(Math.max(...xs))}`.padEnd(23)} ${over}`)
    }
  }
  if (dropped > 0) lines.push('', `note: ${dropped} records dropped across the 'on' runs (ring full between drains)`)
  process.stdout.write(lines.join('\n') + '\n')
}

if (args[0] === '--child') {
  childMain(args[1], args[2], Number(args[3])).catch((err) => { console.error(err); process.exit(1) })
} else {
  parentMain()
}
