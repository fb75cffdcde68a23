'use strict'
// nat.recorder(file, options): records this process into a stream trace
// (lib/trace-stream.js, docs/trace-format.md) while it runs. A Worker of
// its own (lib/recorder-worker.js) reads every event through a consumer
// and writes chunks; this thread only forwards link stacks (when asked
// for) and, on stop(), waits for the last chunk.
//
// Runs on the thread that calls it; stop() may be called from a process
// 'exit' listener (it waits with Atomics.wait, the only way to wait there).
const path = require('node:path')
const { Worker, MessageChannel, receiveMessageOnPort } = require('node:worker_threads')
const STATE = require('./recorder-state')
const { validateObject, validateInteger, invalidArgType, invalidArgValue, natError } = require('./errors')

const OPTIONS = new Set(['stacks', 'js', 'capacity', 'addons', 'limit', 'compress', 'interval', 'meta', 'startTimeout'])
const DEFAULT_LIMIT = 1 << 18 // records waiting for the writer (12 MB when full)

function recorderError (message) {
  return natError('NAT_EIO', message)
}

/**
 * Starts recording into `file` (written as the program runs; readable up
 * to the last complete chunk after a crash). options:
 *   stacks, js, capacity, addons   as enable()'s
 *   limit      most records waiting for the writer (default 262144);
 *              past it they are dropped and counted in the trace
 *   compress   deflate chunks (default true)
 *   interval   ms between writes (default 20)
 *   meta       extra JSON-able fields for the file's META chunk
 * Returns { file, stop(info) -> summary, stats() }.
 */
function recorder (nat, file, options = {}) {
  if (typeof file !== 'string' || file.length === 0) throw invalidArgType('file', 'a non-empty string', file)
  validateObject(options, 'options')
  for (const key of Object.keys(options)) {
    if (!OPTIONS.has(key)) throw invalidArgValue(`options.${key}`, `is not an option (known: ${[...OPTIONS].join(', ')})`, options[key])
  }
  const limit = options.limit === undefined ? DEFAULT_LIMIT : validateInteger(options.limit, 'options.limit', 1, 2 ** 32)
  const interval = options.interval === undefined ? 20 : validateInteger(options.interval, 'options.interval', 1, 10000)
  const compress = options.compress === undefined ? true : options.compress
  if (typeof compress !== 'boolean') throw invalidArgType('options.compress', 'of type boolean', compress)
  if (options.meta !== undefined) validateObject(options.meta, 'options.meta')

  const ctl = new Int32Array(new SharedArrayBuffer(4 * 4))
  const { port1, port2 } = new MessageChannel()
  const { isMainThread, threadId } = require('node:worker_threads')
  const meta = {
    version: nat.version,
    node: process.version,
    pid: process.pid,
    ppid: process.ppid,
    thread: isMainThread ? 0 : threadId,
    argv: process.argv.slice(1),
    platform: process.platform,
    arch: process.arch,
    startedAt: Date.now(),
    hrtime: String(process.hrtime.bigint()),
    ...options.meta
  }
  const worker = new Worker(path.join(__dirname, 'recorder-worker.js'), {
    workerData: { file: path.resolve(file), ctl, port: port2, compress, limit, interval, meta },
    transferList: [port2],
    // Its stdout/stderr are the program's; it writes nothing there.
    stdout: false,
    stderr: false,
    // A small young generation: the Worker's garbage is batches of a few
    // hundred kB at a time; this keeps its share of the program's memory
    // small.
    resourceLimits: { maxYoungGenerationSizeMb: 4 }
  })
  worker.unref()
  port1.unref()
  // A failure of the writer is reported once; the program goes on.
  let failure = null
  worker.on('error', (err) => {
    failure = err
    process.emitWarning(`napi-async-trace: the recorder writing ${file} failed: ${err.message}`, { code: 'NAT_RECORDER' })
  })
  // The consumer must exist before recording starts, or the first events
  // could be taken by another consumer first: wait for the Worker (once,
  // at start-up; a few tens of ms).
  const timeout = options.startTimeout === undefined ? 10000 : options.startTimeout
  const deadline = Date.now() + timeout
  while (Atomics.load(ctl, 0) === STATE.STARTING && Date.now() < deadline) {
    Atomics.wait(ctl, 0, STATE.STARTING, 50)
  }
  const state = Atomics.load(ctl, 0)
  if (state !== STATE.RUNNING) {
    const m = receiveMessageOnPort(port1)
    worker.terminate()
    if (m && m.message.error) throw recorderError(`cannot record into ${file}: ${m.message.error.message}`)
    throw recorderError(`cannot record into ${file}: the recorder's Worker did not start within ${timeout} ms`)
  }

  const enableOptions = { drain: false }
  for (const key of ['stacks', 'js', 'capacity', 'addons']) if (options[key] !== undefined) enableOptions[key] = options[key]
  nat.enable(enableOptions)

  // Link stacks are captured on this thread; they go to the writer in
  // batches (formatting them is the costly part, done once per link).
  let cursor = 0
  const sendStacks = () => {
    const r = nat.linkStacksSince(cursor)
    cursor = r.cursor
    if (r.stacks.length > 0) port1.postMessage({ stacks: r.stacks })
  }
  const timer = options.stacks ? setInterval(sendStacks, 200) : null
  if (timer) timer.unref()

  let summary = null
  return {
    file,
    worker,
    /**
     * Writes the last chunks and closes the file; blocks until done (at
     * most `timeout` ms). info: { reason, exitCode } for the END chunk.
     * Returns { delivered, lost, chunks, bytes, writeErrors } or null when
     * the writer did not answer in time.
     */
    stop (info = {}, stopTimeout = 10000) {
      if (summary !== null) return summary
      if (timer) clearInterval(timer)
      if (options.stacks) sendStacks()
      port1.postMessage({ stop: { reason: info.reason || 'stopped', exitCode: info.exitCode, stats: info.stats } })
      Atomics.store(ctl, 0, STATE.STOP)
      Atomics.notify(ctl, 0)
      const end = Date.now() + stopTimeout
      while (Atomics.load(ctl, 0) !== STATE.STOPPED && Date.now() < end) Atomics.wait(ctl, 0, STATE.STOP, 50)
      if (Atomics.load(ctl, 0) !== STATE.STOPPED) return failure ? { error: failure.message } : null
      for (let m = receiveMessageOnPort(port1); m !== undefined; m = receiveMessageOnPort(port1)) {
        if (m.message.done) summary = m.message.done
      }
      return summary
    }
  }
}

module.exports = { recorder, DEFAULT_LIMIT }
