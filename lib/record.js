'use strict'
// Preloaded by `napi-async-trace record` (node --require, through
// NODE_OPTIONS, so every Node process the program starts loads it too):
// loads the engine in every env (so addons in Workers find its C table),
// and in each process's main thread starts a recorder (lib/recorder.js)
// that writes a stream trace while the process runs.
//
// Where each process writes: the first process to claim NAT_RECORD_OUT
// (an exclusive create) writes it; every other one writes
// `<NAT_RECORD_OUT>.d/<pid>.nat`. So a tree of processes (npm and the app
// it starts, node --test and its test files, fork/spawn of node) leaves one
// file per process, which the readers take as one trace.
//
// The trace is written as the process runs; at exit, and on SIGINT,
// SIGTERM, SIGHUP and SIGQUIT, the last chunks are written (then the
// signal is raised again when nobody else handles it). A crash or kill -9
// leaves the file readable up to its last complete chunk.
//
// Configured by the CLI through the environment:
//   NAT_RECORD_OUT      the trace file of the first process
//   NAT_RECORD_OPTIONS  JSON: { stacks, js, capacity, stackLimit, limit,
//                       compress, follow, addons }
//   follow: false stops the processes the program starts from recording
//   (they then do not inherit the preload).
const fs = require('node:fs')
const path = require('node:path')
const { isMainThread } = require('node:worker_threads')
const nat = require('./index.js')

function say (msg) {
  try { process.stderr.write(`napi-async-trace: ${msg}\n`) } catch {}
}

// Claims `out` for this process, or a file of its own next to it.
function claim (out) {
  try {
    fs.closeSync(fs.openSync(out, 'wx'))
    return out
  } catch (err) {
    if (err.code !== 'EEXIST') throw err
  }
  const dir = `${out}.d`
  fs.mkdirSync(dir, { recursive: true })
  return path.join(dir, `${process.pid}.nat`)
}

// The CLI's options (NAT_RECORD_OPTIONS); the defaults when unreadable
// (said once, by the main thread).
function recordOptions (quiet) {
  try {
    return JSON.parse(process.env.NAT_RECORD_OPTIONS || '{}') || {}
  } catch {
    if (!quiet) say('NAT_RECORD_OPTIONS is not JSON; recording with defaults')
    return {}
  }
}

if (isMainThread && process.env.NAT_RECORD_OUT) {
  const out = process.env.NAT_RECORD_OUT
  const options = recordOptions(false)
  if (options.follow === false) {
    // This process records; the ones it starts do not inherit the preload.
    delete process.env.NAT_RECORD_OUT
    delete process.env.NAT_RECORD_OPTIONS
    // Its own Workers still hook their addon loaders (below): they copy
    // process.env when made, so they learn it from a variable naming this
    // pid, which a process started from here (another pid) ignores.
    process.env.NAT_RECORD_WORKERS = JSON.stringify({ pid: process.pid, addons: options.addons !== false })
    if (process.env.NODE_OPTIONS) {
      const mine = `--require ${JSON.stringify(__filename)}`
      process.env.NODE_OPTIONS = process.env.NODE_OPTIONS.replace(mine, '').trim()
      if (process.env.NODE_OPTIONS === '') delete process.env.NODE_OPTIONS
    }
  }
  let rec = null
  try {
    const file = claim(out)
    const ropts = {
      stacks: options.stacks === true,
      js: options.js === true,
      // Zero-code tracing of the addons the program loads (record
      // --no-addons turns it off).
      addons: options.addons !== false,
      meta: { root: file === out }
    }
    // Ring capacity: the engine's default (65536 records, 3 MB per thread)
    // unless asked; the recorder's Worker drains every 20 ms.
    if (Number.isInteger(options.capacity)) ropts.capacity = options.capacity
    if (Number.isInteger(options.limit)) ropts.limit = options.limit
    if (typeof options.compress === 'boolean') ropts.compress = options.compress
    if (Number.isInteger(options.stackLimit)) nat.enable({ stackLimit: options.stackLimit, drain: false })
    // The signal handlers and the recorder's own timers exist before the
    // bridge starts, so they are not recorded as the program's work.
    rec = nat.recorder(file, ropts)
  } catch (err) {
    say(`not recording ${process.argv.slice(1).join(' ')} (pid ${process.pid}): ${err.message}`)
  }
  if (rec !== null) {
    let stopped = false
    const stop = (reason) => {
      if (stopped) return
      stopped = true
      const stats = nat.stats()
      const r = rec.stop({ reason, exitCode: process.exitCode, stats })
      nat.disable()
      if (r === null) say(`the recorder did not finish ${rec.file} in time; it is readable up to its last complete chunk`)
      else if (r.error) say(`the recorder failed (${r.error}); ${rec.file} is readable up to its last complete chunk`)
      else if (r.writeErrors > 0) say(`${r.writeErrors} write(s) into ${rec.file} failed (${r.lastWriteError}); their records are counted as lost`)
    }
    process.on('exit', (code) => stop(`exit ${code}`))
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT']) {
      // `on`, not `once`: the same signal may come twice (a terminal's
      // hang-up reaches the process group and record passes it on too);
      // the second must not kill the process while the trace is finished.
      const onSignal = () => {
        // A program that handles the signal itself goes on to its own
        // shutdown: the trace is finished at exit, shutdown included.
        if (process.listenerCount(sig) > 1) return
        stop(`signal ${sig}`)
        process.off(sig, onSignal)
        process.kill(process.pid, sig)
      }
      process.on(sig, onSignal)
    }
  }
}

// A Worker (the preload runs in every env): the main thread's recorder
// writes what every thread records, but each env has its own addon loader
// (process.dlopen), so a Worker hooks its own: an addon that a Worker is
// the first to load is rebound before its init runs, like one the main
// thread loads. With follow: false the main thread took NAT_RECORD_OUT out of the
// environment; NAT_RECORD_WORKERS then says that this process records.
function workerRecording () {
  if (process.env.NAT_RECORD_OUT) return recordOptions(true)
  try {
    const w = JSON.parse(process.env.NAT_RECORD_WORKERS || 'null')
    if (w !== null && w.pid === process.pid) return { addons: w.addons }
  } catch {}
  return null
}

const workerOptions = isMainThread ? null : workerRecording()
if (workerOptions !== null) {
  if (workerOptions.addons !== false) {
    try {
      require('./addons.js').start()
    } catch (err) {
      say(`zero-code tracing is off in a Worker of pid ${process.pid}: ${err.message}`)
    }
  }
}
