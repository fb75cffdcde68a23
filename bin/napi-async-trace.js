#!/usr/bin/env node
'use strict'
// napi-async-trace: record a program, then look at what it did.
//
// `record` runs the program with the engine preloaded in every Node process
// it starts; each writes a stream trace as it runs (docs/trace-format.md).
// The other commands only read: they load pure JS (lib/trace-*.js,
// lib/graph.js, lib/summary.js, lib/export.js, lib/report.js), never the
// native addon, so a trace recorded anywhere can be read anywhere.
//
// Progress goes to stderr (a live line when stderr is a terminal), results
// to the -o file or stdout. Exit status: 0; 1 on an error (one message, no
// stack trace); 2 on a usage error; `record` exits with the status of the
// program it ran, whatever happens to the trace.
const fs = require('node:fs')
const path = require('node:path')
const { parseArgs } = require('node:util')
const { natError } = require('../lib/errors')

const NAME = 'napi-async-trace'

const HELP = {
  record: `usage: ${NAME} record [options] -- <command> [args...]

Runs <command> with the engine preloaded (NODE_OPTIONS --require) and
records it. Every Node process the command starts (npm scripts, node
--test's test files, child_process fork/spawn of node) and every Worker is
recorded too: the first process writes the -o file, the others
<file>.d/<pid>.nat; the readers take them as one trace. The trace is
written while the program runs (a crash or kill -9 leaves it readable up
to its last complete chunk); the program's exit status is kept.

options:
  -o, --output <file>    the trace (default trace.nat). A name ending in
                         .json also gets a JSON export of the whole trace
                         when the program ends; the stream trace is then
                         <file>.nat. Only a regular file is ever replaced.
  --stacks               capture the JS stack of every link (where work was
                         asked for): stacks, report and folded name the
                         function and file:line. Costs a few µs per link.
  --stack-limit <n>      most link stacks kept per process (default 10000).
  --js                   also record JS async resources (promises, timers,
                         I/O) through async_hooks. Slow; for debugging.
  --capacity <n>         records per thread ring (default 65536, 48 bytes
                         each); a full ring drops records and counts them.
  --limit <n>            most records waiting for the trace writer per
                         process (default 262144); past it, when the disk
                         cannot keep up, records are dropped and counted
                         (the program is never blocked).
  --no-compress          write chunks uncompressed (deflate is on by
                         default: ~5x smaller for a few % of one core, on
                         the recorder's own thread).
  --no-follow            record only the process <command> starts, not the
                         Node processes it starts.
  --no-addons            no zero-code tracing of the addons the program
                         loads (only work reported through the C ABI and
                         marks is recorded).
  -h, --help             this text.

Ctrl-C reaches the program (it stops as it would, the trace is finished).
SIGTERM, SIGHUP and SIGQUIT sent to ${NAME} are passed to the program.`,
  report: `usage: ${NAME} report <trace> [-o report.html]

Writes a self-contained HTML report (timeline, async stacks, per-site
latencies, pending work) that opens offline.

options:
  -o, --output <file>    the HTML file (default report.html).
  --max-events <n>       most events read (default 2000000); a longer
                         trace is shown from its first <n> events and the
                         report says how many it left out (\`stacks\`
                         summarises all of them in bounded memory).
  -h, --help             this text.`,
  stacks: `usage: ${NAME} stacks <trace> [--slowest N] [--pending N]

Prints the async call stacks of the slowest frames and of the work left
pending, and a table per site. Reads the whole trace in bounded memory.

options:
  --slowest <n>          slowest frames to show (default 5, at most 50).
  --pending <n>          pending items to show (default 20).
  --sites <n>            sites in the table (default 20; 0: no table).
  -h, --help             this text.`,
  chrome: `usage: ${NAME} chrome <trace> [-o trace-chrome.json]

Writes the Trace Event Format (JSON) that Perfetto (ui.perfetto.dev),
chrome://tracing and Chromium DevTools (Performance, load profile) open:
one track per thread, frames as slices, flow arrows from each link to the
frame that ran its work.

options:
  -o, --output <file>    the JSON file (default: stdout).
  --max-events <n>       most events exported (default 2000000).
  -h, --help             this text.`,
  folded: `usage: ${NAME} folded <trace> [-o trace.folded]

Writes folded stacks (flamegraph.pl, speedscope, inferno): one line per
async call stack, root first, each step the site and, where link stacks
were recorded (record --stacks), the function and file:line that asked for
the work. Weights are microseconds of frame run time. Reads the whole
trace in bounded memory.

options:
  -o, --output <file>    the output file (default: stdout).
  -h, --help             this text.`,
  dot: `usage: ${NAME} dot <trace> [-o trace.dot]

Writes a Graphviz graph: frames as nodes clustered by site, edges from the
frame that asked for work to the frame that ran it.

options:
  -o, --output <file>    the output file (default: stdout).
  --max-events <n>       most events drawn (default 2000000).
  -h, --help             this text.`,
  json: `usage: ${NAME} json <trace> [-o trace.json]

Exports a trace as one JSON document (the format graph() and older
versions read): { format, formatVersion, events: [...], stacks: {...} }.
Every event is held in memory: for long traces use the other commands.

options:
  -o, --output <file>    the JSON file (default: stdout).
  -h, --help             this text.`
}

const USAGE = `usage:
  ${NAME} record [-o trace.nat] [--stacks] [--js] [--no-addons] [options] -- <command> [args...]
  ${NAME} report <trace> [-o report.html]
  ${NAME} stacks <trace> [--slowest N] [--pending N]
  ${NAME} chrome <trace> [-o trace-chrome.json]   (Perfetto, chrome://tracing, DevTools)
  ${NAME} folded <trace> [-o trace.folded]        (speedscope, flamegraph.pl)
  ${NAME} dot    <trace> [-o trace.dot]           (Graphviz)
  ${NAME} json   <trace> [-o trace.json]          (the JSON export)
  ${NAME} <command> --help                       (the command's options)`

class UsageError extends Error {
  constructor (message, command) {
    super(message)
    this.command = command
  }
}

function say (msg) { process.stderr.write(`${NAME}: ${msg}\n`) }

function kB (bytes) { return bytes < 1e6 ? `${(bytes / 1e3).toFixed(1)} kB` : `${(bytes / 1e6).toFixed(1)} MB` }

// A progress line on stderr while reading or writing, only on a terminal,
// at most five times a second.
function progress (what) {
  if (!process.stderr.isTTY) return { update () {}, done () {} }
  let last = 0
  let shown = false
  return {
    update (pos, size) {
      const now = Date.now()
      if (now - last < 200) return
      last = now
      shown = true
      const pct = size > 0 ? ` ${Math.floor((100 * pos) / size)}%` : ''
      process.stderr.write(`\r${NAME}: ${what}${pct} (${kB(pos)})\x1b[K`)
    },
    done () { if (shown) process.stderr.write('\r\x1b[K') }
  }
}

function parse (command, argv, options, positionals) {
  let r
  try {
    r = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, allowNegative: true, strict: true })
  } catch (err) {
    throw new UsageError(err.message, command)
  }
  if (r.values.help) return null
  if (positionals !== undefined && r.positionals.length !== positionals) {
    throw new UsageError(positionals === 1 ? 'expected one trace file' : `expected ${positionals} arguments`, command)
  }
  return r
}

function count (value, name, command, min = 0) {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min} (got ${JSON.stringify(value)})`, command)
  return n
}

// Refuses to replace anything but a regular file (a device, a directory,
// a FIFO, a socket, a symlink); removes a regular one.
function clearOutput (file) {
  let st
  try {
    st = fs.lstatSync(file)
  } catch (err) {
    if (err.code === 'ENOENT') return
    throw err
  }
  if (!st.isFile()) {
    const kind = st.isDirectory() ? 'a directory' : st.isSymbolicLink() ? 'a symbolic link' : st.isCharacterDevice() || st.isBlockDevice() ? 'a device' : st.isFIFO() ? 'a FIFO' : st.isSocket() ? 'a socket' : 'not a regular file'
    throw natError('NAT_EINVAL', `refusing to replace ${file}: it is ${kind}, not a regular file`)
  }
  fs.unlinkSync(file)
}

function output (file, text, what) {
  if (file === undefined) {
    process.stdout.write(text)
    return
  }
  clearOutput(file)
  fs.writeFileSync(file, text, { flag: 'wx' })
  say(`wrote ${what} to ${file} (${kB(Buffer.byteLength(text))})`)
}

function warnTruncated (truncated) {
  for (const t of truncated) say(`warning: ${t.file} ends early (${t.reason}); read up to byte ${t.offset}, the last complete chunk (the recording was cut: crash, kill -9 or a full disk)`)
}

// A graph of the trace (whole, or its first maxEvents events).
function load (file, maxEvents) {
  const { loadGraph } = require('../lib/trace-load')
  const p = progress(`reading ${file}`)
  let r
  try {
    r = loadGraph(file, { limit: maxEvents, onProgress: p.update })
  } finally {
    p.done()
  }
  const g = r.graph
  warnTruncated(r.truncated)
  if (r.sampled) say(`warning: the trace has ${r.events} events; this shows its first ${r.added} (--max-events)`)
  if (g.problemCount > 0) say(`warning: ${g.problemCount} inconsistent event(s) left out (first: ${g.problems[0].message})`)
  if (g.lost > 0) say(`warning: ${g.lost} record(s) were dropped while recording; some work may look pending`)
  if (r.processes.length > 1) say(`${r.processes.length} processes: ${r.processes.map((p) => p.pid).join(', ')}`)
  return r
}

function summarise (file) {
  const { summariseTrace } = require('../lib/trace-load')
  const p = progress(`reading ${file}`)
  let r
  try {
    r = summariseTrace(file, { onProgress: p.update })
  } finally {
    p.done()
  }
  warnTruncated(r.truncated)
  const s = r.summary
  if (s.lost > 0) say(`warning: ${s.lost} record(s) were dropped while recording${s.consumerLost ? ` (${s.consumerLost} by the trace writer, which could not keep up)` : ''}; some work may look pending`)
  if (s.liveEvicted > 0) say(`warning: more than ${require('../lib/summary').LIVE_LIMIT} items were in flight at once; ${s.liveEvicted} were let go (counted, not shown as pending)`)
  return r
}

function graphSummary (g) {
  return `${g.events} events, ${g.frames().length} frames, ${g.sites().length} sites, ${g.pending().length} pending, ${g.lost} lost`
}

function streamSummary (s) {
  const sites = s.sites()
  let frames = s.openFrames
  for (const x of sites) frames += x.frames
  return `${s.events} events, ${frames} frames, ${sites.length} sites, ${s.pendingCount} pending, ${s.lost} lost`
}

function ms (ns) { return Number.isFinite(ns) ? `${(ns / 1e6).toFixed(3)} ms` : '-' }

// ---- record ----------------------------------------------------------------

async function record (argv) {
  const dash = argv.indexOf('--')
  const own = dash < 0 ? argv : argv.slice(0, dash)
  const r = parse('record', own, {
    output: { type: 'string', short: 'o', default: 'trace.nat' },
    stacks: { type: 'boolean', default: false },
    'stack-limit': { type: 'string' },
    js: { type: 'boolean', default: false },
    capacity: { type: 'string' },
    limit: { type: 'string' },
    compress: { type: 'boolean', default: true },
    follow: { type: 'boolean', default: true },
    addons: { type: 'boolean', default: true }
  }, 0)
  if (r === null) return help('record')
  if (dash < 0 || dash === argv.length - 1) throw new UsageError('record needs the command after --, e.g. record -o trace.nat -- node app.js', 'record')
  const { values } = r
  const capacity = count(values.capacity, 'capacity', 'record', 16)
  const stackLimit = count(values['stack-limit'], 'stack-limit', 'record', 1)
  const limit = count(values.limit, 'limit', 'record', 1)
  const command = argv.slice(dash + 1)
  const out = path.resolve(values.output)
  const jsonOut = out.endsWith('.json') ? out : null
  const streamOut = jsonOut ? `${out}.nat` : out
  // Fail now, not after the run: what cannot be replaced or written.
  for (const f of jsonOut ? [jsonOut, streamOut] : [streamOut]) {
    clearOutput(f)
    fs.closeSync(fs.openSync(f, 'wx'))
    fs.unlinkSync(f)
  }
  // Files of the processes a previous run started.
  const dir = `${streamOut}.d`
  if (fs.existsSync(dir)) {
    if (!fs.lstatSync(dir).isDirectory()) throw natError('NAT_EINVAL', `refusing to replace ${dir}: it is not a directory`)
    for (const n of fs.readdirSync(dir)) if (n.endsWith('.nat')) clearOutput(path.join(dir, n))
  }
  const preload = path.join(__dirname, '..', 'lib', 'record.js')
  const options = { stacks: values.stacks, js: values.js, compress: values.compress, follow: values.follow, addons: values.addons }
  if (capacity !== undefined) options.capacity = capacity
  if (stackLimit !== undefined) options.stackLimit = stackLimit
  if (limit !== undefined) options.limit = limit
  const env = {
    ...process.env,
    NODE_OPTIONS: `${process.env.NODE_OPTIONS || ''} --require ${JSON.stringify(preload)}`.trim(),
    NAT_RECORD_OUT: streamOut,
    NAT_RECORD_OPTIONS: JSON.stringify(options)
  }
  say(`recording \`${command.join(' ')}\` into ${values.output}`)
  const { spawn } = require('node:child_process')
  const child = spawn(command[0], command.slice(1), { stdio: 'inherit', env })
  // Ctrl-C reaches the program too (same process group): wait for it to
  // finish the trace instead of dying first. The other signals are passed
  // on (a terminal's hang-up reaches the group as well; the recorder
  // finishes once however many times it is told).
  const ignore = () => {}
  const pass = (sig) => () => { try { child.kill(sig) } catch {} }
  const handlers = { SIGINT: ignore, SIGTERM: pass('SIGTERM'), SIGHUP: pass('SIGHUP'), SIGQUIT: pass('SIGQUIT') }
  for (const [sig, fn] of Object.entries(handlers)) process.on(sig, fn)
  const status = await new Promise((resolve, reject) => {
    child.once('error', (err) => reject(new Error(`cannot run ${command[0]}: ${err.code === 'ENOENT' ? 'command not found' : err.message}`)))
    child.once('exit', (code, signal) => resolve(signal ? 128 + (require('node:os').constants.signals[signal] || 0) : code))
  })
  for (const [sig, fn] of Object.entries(handlers)) process.off(sig, fn)
  // From here on, nothing changes the program's exit status.
  try {
    if (!fs.existsSync(streamOut)) {
      say(`the program ended (status ${status}) and no Node.js process of it was recorded: ${command[0]} is not a Node.js program and started none, or it was killed before the preload ran`)
      return status
    }
    const files = require('../lib/trace-stream').traceFiles(streamOut)
    let bytes = 0
    for (const f of files) bytes += fs.statSync(f).size
    const procs = files.length > 1 ? `, ${files.length} processes` : ''
    const { scanTrace, GRAPH_LIMIT } = require('../lib/trace-load')
    const scan = scanTrace(streamOut)
    if (scan.events > GRAPH_LIMIT && !jsonOut) {
      // A long trace: counts from the chunk headers and END chunks only
      // (a full summary takes a while; \`stacks\` gives it).
      let engine = 0
      let writer = 0
      for (const f of scan.files) {
        if (f.end && f.end.stats) engine += f.end.stats.dropped || 0
        if (f.end && f.end.recorder) writer += f.end.recorder.lost || 0
      }
      warnTruncated(scan.files.filter((f) => f.truncated).map((f) => ({ file: f.file, ...f.truncated })))
      say(`wrote ${values.output} (${kB(bytes)}${procs}): ${scan.events} events; dropped while recording: ${engine} by the engine (full rings), ${writer} by the trace writer (it could not keep up); \`${NAME} stacks ${values.output}\` summarises it; program exit status ${status}`)
      return status
    }
    const { summary } = summarise(streamOut)
    if (jsonOut) {
      try {
        exportJson(streamOut, jsonOut)
        say(`wrote ${values.output} (${kB(fs.statSync(jsonOut).size)}): ${streamSummary(summary)}; program exit status ${status}`)
        say(`the stream trace is ${streamOut} (${kB(bytes)}${procs})`)
      } catch (err) {
        say(`could not export ${values.output} (${err.message}); the trace is in ${streamOut} (${kB(bytes)}${procs}): ${streamSummary(summary)}; program exit status ${status}`)
      }
    } else {
      say(`wrote ${values.output} (${kB(bytes)}${procs}): ${streamSummary(summary)}; program exit status ${status}`)
    }
  } catch (err) {
    say(`the trace in ${streamOut} could not be read back: ${err.message}; program exit status ${status}`)
  }
  return status
}

// The JSON export, written piece by piece (no one string of the whole
// trace). Processes after the first have their IDs, envs and threads moved
// past the previous ones' (lib/trace-load.js does the same for graphs).
function exportJson (file, out) {
  const { readTrace } = require('../lib/trace-file')
  const stream = require('../lib/trace-stream')
  if (!stream.isStreamFile(file)) {
    const { trace } = readTrace(file)
    const tmp = `${out}.tmp-${process.pid}`
    fs.writeFileSync(tmp, JSON.stringify(trace), { flag: 'wx' })
    clearOutput(out)
    fs.renameSync(tmp, out)
    return
  }
  const tmp = `${out}.tmp-${process.pid}`
  const fd = fs.openSync(tmp, 'wx')
  try {
    const processes = []
    const stacks = {}
    let first = true
    let off = { id: 0, env: 0, thread: 0 }
    let head = null
    for (const f of stream.traceFiles(file)) {
      const max = { id: 0, env: 0, thread: 0 }
      let meta = null
      let end = null
      stream.readStream(f, {
        onMeta: (m) => {
          meta = m
          if (head === null) {
            head = { format: 'napi-async-trace', formatVersion: 1, version: m.version, node: m.node, pid: m.pid, argv: m.argv }
            fs.writeSync(fd, `${JSON.stringify(head).slice(0, -1)},"events":[`)
          }
        },
        onEvents: (b) => {
          const parts = []
          for (let i = 0; i < b.length; i++) {
            const e = b.get(i)
            if (e.event !== 'lost') {
              max.id = Math.max(max.id, e.executeID, e.linkID, e.readyID)
              if (e.executeID) e.executeID += off.id
              if (e.linkID) e.linkID += off.id
              if (e.readyID) e.readyID += off.id
            }
            max.env = Math.max(max.env, e.env)
            max.thread = Math.max(max.thread, e.thread)
            if (e.env) e.env += off.env
            if (e.thread) e.thread += off.thread
            parts.push(JSON.stringify(e))
          }
          if (parts.length) {
            fs.writeSync(fd, (first ? '' : ',') + parts.join(','))
            first = false
          }
        },
        onStacks: (m) => { for (const [k, v] of m) stacks[k + off.id] = v },
        onEnd: (e) => { end = e }
      })
      processes.push({ pid: meta && meta.pid, ppid: meta && meta.ppid, argv: meta && meta.argv, idOffset: off.id, envOffset: off.env, threadOffset: off.thread, stats: end && end.stats, end: end && end.reason })
      off = { id: off.id + max.id + 1, env: off.env + max.env, thread: off.thread + max.thread }
    }
    if (head === null) fs.writeSync(fd, '{"format":"napi-async-trace","formatVersion":1,"events":[')
    const root = processes[0] || {}
    fs.writeSync(fd, `],"stats":${JSON.stringify(root.stats || null)},"processes":${JSON.stringify(processes)},"stacks":${JSON.stringify(stacks)}}`)
  } finally {
    fs.closeSync(fd)
  }
  clearOutput(out)
  fs.renameSync(tmp, out)
}

// ---- the read-only commands --------------------------------------------------

function report (argv) {
  const r = parse('report', argv, { output: { type: 'string', short: 'o', default: 'report.html' }, 'max-events': { type: 'string' } }, 1)
  if (r === null) return help('report')
  const max = count(r.values['max-events'], 'max-events', 'report', 1)
  const file = r.positionals[0]
  const loaded = load(file, max)
  const options = { title: `${NAME}: ${path.basename(file)}`, generated: new Date().toISOString() }
  if (loaded.sampled) {
    // The report shows what fits in memory and says what it left out; the
    // stacks command summarises all of it in bounded memory.
    options.omitted = {
      events: loaded.events - loaded.added,
      reason: `this report shows the first ${loaded.added} of the trace's ${loaded.events} events (--max-events); \`${NAME} stacks\` summarises all of them`
    }
  }
  const { renderReport } = require('../lib/report')
  const html = renderReport(loaded.graph, options)
  output(r.values.output, html, 'the report')
  say(graphSummary(loaded.graph))
  return 0
}

function stacks (argv) {
  const r = parse('stacks', argv, {
    slowest: { type: 'string', default: '5' },
    pending: { type: 'string', default: '20' },
    sites: { type: 'string', default: '20' },
    'max-events': { type: 'string' }
  }, 1)
  if (r === null) return help('stacks')
  const slowest = Math.min(50, count(r.values.slowest, 'slowest', 'stacks'))
  const pendingMax = count(r.values.pending, 'pending', 'stacks')
  const sitesMax = count(r.values.sites, 'sites', 'stacks')
  const max = count(r.values['max-events'], 'max-events', 'stacks', 1)
  const file = r.positionals[0]
  const { GRAPH_LIMIT, scanTrace } = require('../lib/trace-load')
  const fits = !require('../lib/trace-stream').isStreamFile(file) || scanTrace(file).events <= (max === undefined ? GRAPH_LIMIT : max)
  if (fits) return graphStacks(file, slowest, pendingMax, sitesMax)
  const { summary: s } = summarise(file)
  const lines = []
  const frames = s.slowest(slowest)
  let total = 0
  for (const x of s.sites()) total += x.frames
  if (slowest > 0) {
    lines.push(`# the ${frames.length} slowest frame(s) of ${total}`)
    for (const f of frames) {
      lines.push('', `frame ${f.id}  ${f.site}  run ${ms(f.run)}, queue wait ${ms(f.queueWait)}, dispatch wait ${ms(f.dispatchWait)}, thread ${f.thread}${s.processes.length > 1 ? `, pid ${f.pid}` : ''}`)
      const own = f.path[f.path.length - 1]
      if (own !== f.site) lines.push(`  asked for at ${own.slice(f.site.length + 1)}`)
      for (const step of f.path.slice(0, -1).reverse()) lines.push(`  <- ${step}`)
    }
  }
  const pending = s.pending(pendingMax)
  const pendingTotal = s.pendingCount
  if (pendingMax > 0) {
    lines.push('', `# pending: ${pendingTotal}${pendingTotal > pendingMax ? ` (first ${pendingMax})` : ''}`)
    for (const p of pending.slice(0, pendingMax)) {
      const what = p.kind === 'link' ? `linked in frame ${p.frame}, never made ready`
        : p.kind === 'ready' ? `made ready (link ${p.linkID}) by frame ${p.readyBy}, never run` : 'frame never ended'
      lines.push('', `${p.site}: ${p.kind} ${p.id} ${what}, thread ${p.thread}${s.processes.length > 1 ? `, pid ${p.pid}` : ''}`)
      if (p.label && p.label !== p.site) lines.push(`  asked for at ${p.label.slice(p.site.length + 1)}`)
      for (const step of p.path.slice(0, -1).reverse()) lines.push(`  <- ${step}`)
    }
  }
  if (sitesMax > 0) siteTable(lines, s.sites(), sitesMax)
  process.stdout.write(`${lines.join('\n')}\n`)
  say(streamSummary(s))
  return 0
}

// `stacks` for a trace that fits in a graph: every hop with its IDs.
function graphStacks (file, slowest, pendingMax, sitesMax) {
  const { graph: g } = load(file)
  const lines = []
  const frames = g.frames().filter((f) => Number.isFinite(f.duration)).sort((a, b) => b.duration - a.duration)
  if (slowest > 0) {
    lines.push(`# the ${Math.min(slowest, frames.length)} slowest frame(s) of ${frames.length}`)
    for (const f of frames.slice(0, slowest)) lines.push('', g.formatStack(f.id))
  }
  const pending = g.pending()
  if (pendingMax > 0) {
    lines.push('', `# pending: ${pending.length}${pending.length > pendingMax ? ` (first ${pendingMax})` : ''}`)
    for (const p of pending.slice(0, pendingMax)) {
      const what = p.kind === 'link' ? `linked in frame ${p.frame}, never made ready`
        : p.kind === 'ready' ? `made ready (link ${p.linkID}) by frame ${p.readyBy}, never run` : 'frame never ended'
      lines.push('', `${p.site || '(no site)'}: ${p.kind} ${p.id} ${what}, thread ${p.thread}`)
      if (p.stack) for (const l of p.stack.split('\n')) lines.push(`    ${l}`)
      const from = p.kind === 'frame' ? p.id : p.kind === 'link' ? p.frame : p.linkFrame
      if (from !== undefined && from !== p.id) lines.push(`  requested in:\n${g.formatStack(from).replace(/^/gm, '    ')}`)
      else if (p.kind === 'frame') lines.push(g.formatStack(p.id).replace(/^/gm, '    '))
    }
  }
  if (sitesMax > 0) siteTable(lines, g.sites(), sitesMax)
  process.stdout.write(`${lines.join('\n')}\n`)
  say(graphSummary(g))
  return 0
}

function siteTable (lines, all, n) {
  lines.push('', `# sites (${all.length}): frames, then p50 / p99 / max of queue wait, dispatch wait and run`)
  for (const x of all.slice(0, n)) {
    lines.push(`${x.site}  ${x.frames} frames  queue ${ms(x.queueWait.p50)} / ${ms(x.queueWait.p99)} / ${ms(x.queueWait.max)}  dispatch ${ms(x.dispatchWait.p50)} / ${ms(x.dispatchWait.p99)} / ${ms(x.dispatchWait.max)}  run ${ms(x.run.p50)} / ${ms(x.run.p99)} / ${ms(x.run.max)}`)
  }
}

function folded (argv) {
  const r = parse('folded', argv, { output: { type: 'string', short: 'o' } }, 1)
  if (r === null) return help('folded')
  const { summary: s } = summarise(r.positionals[0])
  output(r.values.output, s.folded(), 'folded stacks')
  say('folded stacks: one line per async stack, weights: µs of frame run time')
  say(streamSummary(s))
  return 0
}

function exporter (kind) {
  return (argv) => {
    const r = parse(kind, argv, { output: { type: 'string', short: 'o' }, 'max-events': { type: 'string' } }, 1)
    if (r === null) return help(kind)
    const max = count(r.values['max-events'], 'max-events', kind, 1)
    const loaded = load(r.positionals[0], max)
    const g = loaded.graph
    const text = kind === 'chrome' ? JSON.stringify(g.toChromeTrace()) : g.toDot()
    output(r.values.output, text, `the ${kind} export`)
    say(graphSummary(g))
    return 0
  }
}

function json (argv) {
  const r = parse('json', argv, { output: { type: 'string', short: 'o' } }, 1)
  if (r === null) return help('json')
  const file = r.positionals[0]
  if (r.values.output === undefined) {
    const tmp = path.join(require('node:os').tmpdir(), `nat-json-${process.pid}.json`)
    exportJson(file, tmp)
    process.stdout.write(fs.readFileSync(tmp))
    fs.unlinkSync(tmp)
  } else {
    exportJson(file, path.resolve(r.values.output))
    say(`wrote the JSON export to ${r.values.output} (${kB(fs.statSync(r.values.output).size)})`)
  }
  return 0
}

function help (command) {
  process.stdout.write(`${HELP[command]}\n`)
  return 0
}

const COMMANDS = { record, report, stacks, chrome: exporter('chrome'), folded, dot: exporter('dot'), json }

async function main (argv) {
  const [cmd, ...rest] = argv
  if (cmd === undefined) throw new UsageError('a command is needed')
  if (cmd === '-h' || cmd === '--help') {
    process.stdout.write(`${USAGE}\n`)
    return 0
  }
  if (cmd === 'help') {
    if (rest[0] !== undefined && HELP[rest[0]] !== undefined) return help(rest[0])
    process.stdout.write(`${USAGE}\n`)
    return 0
  }
  if (cmd === '--version' || cmd === '-v') {
    process.stdout.write(`${require('../package.json').version}\n`)
    return 0
  }
  const fn = COMMANDS[cmd]
  if (fn === undefined) throw new UsageError(`unknown command ${JSON.stringify(cmd)}`)
  return fn(rest)
}

main(process.argv.slice(2)).then((status) => {
  process.exitCode = status
}, (err) => {
  if (err instanceof UsageError) {
    say(err.message)
    process.stderr.write(`${err.command ? HELP[err.command] : USAGE}\n`)
    process.exitCode = 2
  } else {
    say(err.code ? err.message : `error: ${err.message}`)
    process.exitCode = 1
  }
})
