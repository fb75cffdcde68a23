'use strict'
// Preloaded by `napi-async-trace record` (node --require): loads the
// engine in every env (so addons in Workers find its C table), and in the
// main thread enables recording, drains every 20 ms into memory and writes
// the trace file when the process ends: on exit, and on SIGINT / SIGTERM
// (then the signal is raised again when nobody else handles it).
//
// Configured by the CLI through the environment:
//   NAT_RECORD_OUT      the trace file to write
//   NAT_RECORD_OPTIONS  JSON: { stacks, js, capacity, addons }
const { isMainThread } = require('node:worker_threads')
const nat = require('./index.js')

if (isMainThread && process.env.NAT_RECORD_OUT) {
  const { toTrace, writeTrace } = require('./trace-file')
  const out = process.env.NAT_RECORD_OUT
  let options = {}
  try {
    options = JSON.parse(process.env.NAT_RECORD_OPTIONS || '{}')
  } catch {
    process.stderr.write('napi-async-trace: NAT_RECORD_OPTIONS is not JSON; recording with defaults\n')
  }
  // This process records; the Node processes it starts do not inherit the
  // preload (they would all write the same file, the last one winning).
  delete process.env.NAT_RECORD_OUT
  delete process.env.NAT_RECORD_OPTIONS
  if (process.env.NODE_OPTIONS) {
    const mine = `--require ${JSON.stringify(__filename)}`
    process.env.NODE_OPTIONS = process.env.NODE_OPTIONS.replace(mine, '').trim()
    if (process.env.NODE_OPTIONS === '') delete process.env.NODE_OPTIONS
  }
  // The drain timer and the signal handlers exist before the bridge starts,
  // so they are not recorded as the program's own work.
  const batches = []
  const timer = setInterval(() => { batches.push(nat.drain()) }, 20)
  timer.unref()
  let written = false
  const write = () => {
    if (written) return
    written = true
    clearInterval(timer)
    batches.push(nat.drain())
    const stats = nat.stats()
    nat.disable()
    try {
      writeTrace(out, toTrace(batches, { stacks: nat.linkStack, stats, version: nat.version }))
    } catch (err) {
      process.stderr.write(`napi-async-trace: could not write ${out}: ${err.message}\n`)
      process.exitCode = process.exitCode || 1
    }
  }
  process.on('exit', write)
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.once(sig, () => {
      // A program that handles the signal itself goes on to its own
      // shutdown: the trace is written at exit, shutdown included.
      if (process.listenerCount(sig) > 0) return
      write()
      process.kill(process.pid, sig)
    })
  }
  nat.enable({
    capacity: Number.isInteger(options.capacity) ? options.capacity : 1 << 18,
    stacks: options.stacks === true,
    js: options.js === true,
    addons: options.addons !== false
  })
}
