'use strict'
// The recorder under load (issue 15): `napi-async-trace record` of a
// program with two native producer threads (bench/record-app.js), for a
// long run. Prints, as JSON lines:
//   - the program's RSS (it holds the recorder: a Worker of its own) every
//     5 s, and its maximum;
//   - events written to disk per second, and what was dropped (by the
//     engine: full rings; by the writer: its queue at its limit);
//   - the trace's size, and the bytes per event;
//   - `stacks` on the trace: its wall time and max RSS (bounded memory).
// With --compare, rounds of compress on/off interleaved (median and
// min..max of events/s written and bytes per event).
//
//   node bench/record.js [--seconds 60] [--churn] [--compare ROUNDS]
// --churn: the producers are new threads every round (rings of exited
// threads wait for a drain to be reused).
// Needs the consumer fixture built (npm test builds it).
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn, spawnSync } = require('node:child_process')

const root = path.join(__dirname, '..')
const cli = path.join(root, 'bin', 'napi-async-trace.js')
const app = path.join(__dirname, 'record-app.js')
const { scanTrace } = require(path.join(root, 'lib', 'trace-load'))

const args = process.argv.slice(2)
const opt = (name, dflt) => { const i = args.indexOf(`--${name}`); return i >= 0 ? Number(args[i + 1]) : dflt }
const seconds = opt('seconds', 60)
const churn = args.includes('--churn')
const compare = opt('compare', 0)
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nat-bench-record-'))

function rssOf (pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) * 1024 : NaN
  } catch { return NaN }
}

async function one (secs, compress, sample) {
  const out = path.join(dir, `t-${compress}.nat`)
  fs.rmSync(out, { force: true })
  fs.rmSync(`${out}.d`, { recursive: true, force: true })
  const t0 = Date.now()
  const child = spawn(process.execPath, [cli, 'record', '-o', out, ...(compress ? [] : ['--no-compress']), '--', process.execPath, app, String(secs), churn ? 'churn' : 'steady'],
    { stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d) => { stderr += d })
  const rss = []
  let pid = null
  const timer = setInterval(() => {
    if (pid === null && fs.existsSync(out)) {
      try { pid = scanTrace(out).files[0].meta.pid } catch {}
    }
    if (pid !== null) rss.push({ s: (Date.now() - t0) / 1000, rss: rssOf(pid) })
  }, 1000)
  const status = await new Promise((resolve) => child.once('exit', resolve))
  clearInterval(timer)
  const wall = (Date.now() - t0) / 1000
  const scan = scanTrace(out)
  const end = scan.files[0].end || {}
  const stats = end.stats || {}
  const bytes = fs.statSync(out).size
  const r = {
    compress,
    seconds: secs,
    status,
    written: scan.events,
    writtenPerSec: Math.round(scan.events / secs),
    engineDropped: stats.dropped,
    writerLost: end.recorder && end.recorder.lost,
    recorded: stats.recorded,
    rings: stats.rings,
    ringMB: +((stats.ringBytes || 0) / 1e6).toFixed(1),
    bytes,
    bytesPerEvent: +(bytes / Math.max(1, scan.events)).toFixed(2),
    wall,
    maxRssMB: +(Math.max(...rss.map((x) => x.rss).filter(Number.isFinite)) / 1e6).toFixed(1)
  }
  if (sample) r.rssMB = rss.filter((x, i) => i % 5 === 0).map((x) => [Math.round(x.s), +(x.rss / 1e6).toFixed(1)])
  if (status !== 0) r.stderr = stderr
  return { r, out }
}

function readerRun (out) {
  const helper = path.join(dir, 'maxrss.js')
  fs.writeFileSync(helper, "process.on('exit', () => process.stderr.write('MAXRSS ' + process.resourceUsage().maxRSS * 1024 + '\\n'))\n")
  const t = Date.now()
  const r = spawnSync(process.execPath, ['-r', helper, cli, 'stacks', out], { encoding: 'utf8', maxBuffer: 1 << 28 })
  const m = /MAXRSS (\d+)/.exec(r.stderr)
  return { command: 'stacks', status: r.status, wall: (Date.now() - t) / 1000, maxRssMB: m ? +(Number(m[1]) / 1e6).toFixed(1) : null }
}

function spread (xs) {
  const s = [...xs].sort((a, b) => a - b)
  return { median: s[Math.floor(s.length / 2)], min: s[0], max: s[s.length - 1] }
}

async function main () {
  if (compare > 0) {
    const rows = { true: [], false: [] }
    for (let i = 0; i < compare; i++) {
      for (const c of i % 2 ? [false, true] : [true, false]) rows[c].push((await one(Math.min(seconds, 10), c, false)).r)
    }
    for (const c of [true, false]) {
      console.log(JSON.stringify({ compress: c, rounds: compare, writtenPerSec: spread(rows[c].map((x) => x.writtenPerSec)), bytesPerEvent: spread(rows[c].map((x) => x.bytesPerEvent)), maxRssMB: spread(rows[c].map((x) => x.maxRssMB)) }))
    }
  } else {
    const { r, out } = await one(seconds, true, true)
    console.log(JSON.stringify(r))
    console.log(JSON.stringify({ trace: out, traceEvents: r.written, reader: readerRun(out) }))
  }
  fs.rmSync(dir, { recursive: true, force: true })
}
main()
