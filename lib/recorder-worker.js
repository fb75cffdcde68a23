'use strict'
// The recorder's Worker (lib/recorder.js starts it): reads every event
// through a consumer of its own and writes the stream trace
// (lib/trace-stream.js) chunk by chunk, so the program's thread never
// compresses or waits for the disk.
//
// If the disk is slower than the program, this thread falls behind, its
// consumer's queue fills up to its limit and the records past it are
// counted (a `lost` record with the consumer flag, written in the next
// EVENTS chunk): the program is never blocked and memory stays bounded.
//
// Control with the main thread, through a SharedArrayBuffer (ctl):
//   ctl[0] state: STARTING -> RUNNING (consumer made, file open) or FAILED;
//          the main thread sets STOP; this thread answers STOPPED when the
//          END chunk is written. The main thread waits on it with
//          Atomics.wait (at exit it cannot wait any other way).
//   port   messages from the main thread: { stacks: [[linkID, text]...] }
//          and { stop: { stats, reason } }, read synchronously with
//          receiveMessageOnPort so a stop never waits for this loop's turn.
const { workerData, receiveMessageOnPort } = require('node:worker_threads')
const { StreamWriter } = require('./trace-stream')
const STATE = require('./recorder-state')

const { file, ctl, port, compress, limit, interval, meta } = workerData
const MAX_BATCH = 1 << 14 // records per drain: a chunk of at most 768 KiB raw

function setState (s) {
  Atomics.store(ctl, 0, s)
  Atomics.notify(ctl, 0)
}

let binding, consumer, writer
const names = [null]
try {
  const nat = require('./index.js')
  binding = require('./binding')
  consumer = nat.consumer({ name: 'recorder', limit })
  writer = new StreamWriter(file, meta, { compress })
} catch (err) {
  port.postMessage({ error: { message: err.message, code: err.code } })
  setState(STATE.FAILED)
  throw err
}
setState(STATE.RUNNING)

let stopInfo = null
function takeMessages () {
  for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) {
    const msg = m.message
    if (msg.stacks) writer.stacks(new Map(msg.stacks))
    if (msg.stop) stopInfo = msg.stop
  }
}

// Drains and writes until the consumer has less than a full batch left.
function pump () {
  for (;;) {
    const batch = consumer.drain({ max: MAX_BATCH })
    if (batch.length === 0) return
    // Every site the batch names exists by now: refresh the table, write
    // the new names before the records that use them.
    for (const name of binding.sites(names.length)) names.push(name)
    writer.sites(names)
    try {
      writer.events(batch.buffer)
    } catch (err) {
      // The disk refused (full, gone): the records are counted as this
      // consumer's loss, the recording goes on.
      consumer.countLost(batch.length)
      writeErrors++
      lastWriteError = err.message
    }
    if (batch.length < MAX_BATCH) return
  }
}

let writeErrors = 0
let lastWriteError = null

function finish () {
  pump()
  takeMessages()
  const s = consumer.stats()
  try {
    writer.end({
      reason: stopInfo ? stopInfo.reason : 'stopped',
      exitCode: stopInfo ? stopInfo.exitCode : undefined,
      stats: stopInfo ? stopInfo.stats : undefined,
      recorder: { delivered: s.delivered, lost: s.lost, limit: s.limit, chunks: writer.chunks + 1, bytes: writer.bytes, writeErrors, lastWriteError }
    })
  } catch {}
  writer.close()
  consumer.close()
  port.postMessage({ done: { delivered: s.delivered, lost: s.lost, chunks: writer.chunks, bytes: writer.bytes, writeErrors, lastWriteError } })
  setState(STATE.STOPPED)
}

function tick () {
  takeMessages()
  pump()
  if (Atomics.load(ctl, 0) === STATE.STOP) return finish()
  // The next round; a stop is seen within one interval. (A timer, not
  // Atomics.waitAsync: that does not keep this thread's loop alive.)
  setTimeout(tick, interval)
}
tick()
