#!/usr/bin/env node
'use strict'
// napi-async-trace: record a program, then look at what it did.
//
//   napi-async-trace record [-o trace.json] [--stacks] [--js] [--no-addons] -- node app.js [args]
//   napi-async-trace report trace.json [-o report.html]
//   napi-async-trace stacks trace.json [--slowest N] [--pending N]
//   napi-async-trace chrome trace.json [-o trace.chrome.json]
//   napi-async-trace folded trace.json [-o trace.folded]
//   napi-async-trace dot trace.json [-o trace.dot]
//
// Progress and a summary line go to stderr; results to the -o file (or
// stdout for stacks, folded and dot without -o). Exit status: 0, 1 on an
// error (a message, no stack trace), 2 on a usage error; `record` exits
// with the status of the program it ran.
const fs = require('node:fs')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { parseArgs } = require('node:util')

const NAME = 'napi-async-trace'
const USAGE = `usage:
  ${NAME} record [-o trace.json] [--stacks] [--js] [--no-addons] -- <command> [args...]
  ${NAME} report <trace.json> [-o report.html]
  ${NAME} stacks <trace.json> [--slowest N] [--pending N]
  ${NAME} chrome <trace.json> [-o trace.chrome.json]   (Perfetto, chrome://tracing)
  ${NAME} folded <trace.json> [-o trace.folded]        (speedscope, flamegraph.pl)
  ${NAME} dot    <trace.json> [-o trace.dot]           (Graphviz)`

class UsageError extends Error {}

function say (msg) { process.stderr.write(`${NAME}: ${msg}\n`) }

function kB (bytes) { return bytes < 1e6 ? `${(bytes / 1e3).toFixed(1)} kB` : `${(bytes / 1e6).toFixed(1)} MB` }

function parse (argv, options, positionals) {
  let r
  try {
    r = parseArgs({ args: argv, options, allowPositionals: true, strict: true })
  } catch (err) {
    throw new UsageError(err.message)
  }
  if (r.positionals.length !== positionals) {
    throw new UsageError(positionals === 1 ? 'expected one trace file' : `expected ${positionals} arguments`)
  }
  return r
}

function count (value, name) {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} must be a non-negative integer (got ${JSON.stringify(value)})`)
  return n
}

// Reads a trace file into a graph, with a progress line.
function load (file) {
  const nat = require('../lib/index.js')
  const { readTrace } = require('../lib/trace-file')
  say(`reading ${file}`)
  const { trace, stacks } = readTrace(file)
  const g = nat.graph(trace, { stacks })
  if (g.problemCount > 0) say(`warning: ${g.problemCount} inconsistent event(s) left out (first: ${g.problems[0].message})`)
  if (g.lost > 0) say(`warning: the engine dropped ${g.lost} record(s) while recording; some work may look pending`)
  return { g, trace }
}

function summary (g) {
  return `${g.events} events, ${g.frames().length} frames, ${g.sites().length} sites, ${g.pending().length} pending, ${g.lost} lost`
}

function output (file, text, what) {
  if (file === undefined) {
    process.stdout.write(text)
    return
  }
  fs.writeFileSync(file, text)
  say(`wrote ${what} to ${file} (${kB(Buffer.byteLength(text))})`)
}

async function record (argv) {
  const dash = argv.indexOf('--')
  if (dash < 0 || dash === argv.length - 1) throw new UsageError('record needs the command after --, e.g. record -o trace.json -- node app.js')
  const { values } = parse(argv.slice(0, dash), {
    output: { type: 'string', short: 'o', default: 'trace.json' },
    stacks: { type: 'boolean', default: false },
    js: { type: 'boolean', default: false },
    'no-addons': { type: 'boolean', default: false } // no zero-code tracing of addons
  }, 0)
  const command = argv.slice(dash + 1)
  const out = path.resolve(values.output)
  fs.writeFileSync(out, '') // fail now, not after the run, when it cannot be written
  fs.rmSync(out)
  const preload = path.join(__dirname, '..', 'lib', 'record.js')
  const env = {
    ...process.env,
    NODE_OPTIONS: `${process.env.NODE_OPTIONS || ''} --require ${JSON.stringify(preload)}`.trim(),
    NAT_RECORD_OUT: out,
    NAT_RECORD_OPTIONS: JSON.stringify({ stacks: values.stacks, js: values.js, addons: !values['no-addons'] })
  }
  say(`recording \`${command.join(' ')}\` into ${values.output}`)
  const child = spawn(command[0], command.slice(1), { stdio: 'inherit', env })
  // Ctrl-C reaches the child too (same process group); wait for it to
  // write the trace instead of dying first.
  const ignore = () => {}
  process.on('SIGINT', ignore)
  process.on('SIGTERM', () => child.kill('SIGTERM'))
  const status = await new Promise((resolve, reject) => {
    child.once('error', (err) => reject(new Error(`cannot run ${command[0]}: ${err.code === 'ENOENT' ? 'command not found' : err.message}`)))
    child.once('exit', (code, signal) => resolve(signal ? 128 + (require('node:os').constants.signals[signal] || 0) : code))
  })
  process.off('SIGINT', ignore)
  if (!fs.existsSync(out)) {
    say(`the program ended (status ${status}) without writing ${values.output}: it was not a Node.js process, or it was killed before it could write`)
    return status || 1
  }
  const { g } = load(out)
  say(`wrote ${values.output} (${kB(fs.statSync(out).size)}): ${summary(g)}; program exit status ${status}`)
  return status
}

function report (argv) {
  const { values, positionals } = parse(argv, { output: { type: 'string', short: 'o', default: 'report.html' } }, 1)
  const { g } = load(positionals[0])
  const { renderReport } = require('../lib/report')
  const html = renderReport(g, { title: `${NAME}: ${path.basename(positionals[0])}`, generated: new Date().toISOString() })
  output(values.output, html, 'the report')
  say(summary(g))
  return 0
}

function stacks (argv) {
  const { values, positionals } = parse(argv, {
    slowest: { type: 'string', default: '5' },
    pending: { type: 'string', default: '20' }
  }, 1)
  const slowest = count(values.slowest, 'slowest')
  const pendingMax = count(values.pending, 'pending')
  const { g } = load(positionals[0])
  const lines = []
  const frames = g.frames().filter((f) => Number.isFinite(f.duration)).sort((a, b) => b.duration - a.duration)
  if (slowest > 0) {
    lines.push(`# the ${Math.min(slowest, frames.length)} slowest frame(s) of ${frames.length}`)
    for (const f of frames.slice(0, slowest)) lines.push('', g.formatStack(f.id))
  }
  const pending = g.pending()
  if (pendingMax > 0) {
    lines.push('', `# pending: ${pending.length}${pending.length > pendingMax ? ` (first ${pendingMax})` : ''}`)
    const { formatPending } = require('../lib/index.js')
    for (const p of pending.slice(0, pendingMax)) {
      lines.push('', formatPending([p]))
      const from = p.kind === 'frame' ? p.id : p.kind === 'link' ? p.frame : p.linkFrame
      if (from !== undefined && from !== p.id) lines.push(`  requested in:\n${g.formatStack(from).replace(/^/gm, '    ')}`)
      else if (p.kind === 'frame') lines.push(g.formatStack(p.id).replace(/^/gm, '    '))
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`)
  say(summary(g))
  return 0
}

function exporter (kind) {
  return (argv) => {
    const { values, positionals } = parse(argv, { output: { type: 'string', short: 'o' } }, 1)
    const { g } = load(positionals[0])
    const text = kind === 'chrome'
      ? JSON.stringify(g.toChromeTrace())
      : kind === 'folded' ? g.toFolded() : g.toDot()
    output(values.output, text, `the ${kind} export`)
    say(summary(g))
    return 0
  }
}

const COMMANDS = { record, report, stacks, chrome: exporter('chrome'), folded: exporter('folded'), dot: exporter('dot') }

async function main (argv) {
  const [cmd, ...rest] = argv
  if (cmd === undefined) throw new UsageError('a command is needed')
  if (cmd === '-h' || cmd === '--help' || cmd === 'help') {
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
    process.stderr.write(`${USAGE}\n`)
    process.exitCode = 2
  } else {
    say(err.code ? err.message : `error: ${err.message}`)
    process.exitCode = 1
  }
})
