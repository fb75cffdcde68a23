'use strict'
// trace.json: what `napi-async-trace record` and the demo write, and what
// `report`, `stacks` and graph() read back. One JSON object:
//
//   { "format": "napi-async-trace", "formatVersion": 1,
//     "version": "<package>", "node": "<process.version>", "pid", "argv",
//     "stats": { ...stats() at the end },
//     "events": [ { event, executeID, linkID, readyID, ts, thread, env, site }, ... ],
//     "stacks": { "<linkID>": "at f (file:line:col)\n..." } }
//
// Events are the objects drain() iterates (lost markers carry `count`), so
// the file is readable by hand and by graph() as is.
const fs = require('node:fs')
const { natError } = require('./errors.js')

const FORMAT = 'napi-async-trace'
const FORMAT_VERSION = 1

function traceError (code, message, cause) {
  return natError(code, message, cause)
}

/**
 * The trace object for some drained batches. stacks: (linkID) => string |
 * undefined, asked for every link in the batches.
 */
function toTrace (batches, { stacks, stats, version, argv } = {}) {
  const events = []
  const stackOut = {}
  for (const b of batches) {
    for (let i = 0; i < b.length; i++) {
      const e = b.get(i)
      events.push(e)
      if (stacks && e.event === 'link') {
        const s = stacks(e.linkID)
        if (typeof s === 'string') stackOut[e.linkID] = s
      }
    }
  }
  return {
    format: FORMAT,
    formatVersion: FORMAT_VERSION,
    version,
    node: process.version,
    pid: process.pid,
    argv: argv || process.argv.slice(1),
    stats,
    events,
    stacks: stackOut
  }
}

function writeTrace (file, trace) {
  const tmp = `${file}.tmp-${process.pid}`
  fs.writeFileSync(tmp, JSON.stringify(trace))
  fs.renameSync(tmp, file)
}

/**
 * Reads and checks a trace file: { trace, stacks: Map<linkID, string> }.
 * Errors carry a code: NAT_EIO (cannot read the file; `cause` is the file
 * system's error, e.g. ENOENT), NAT_EBADTRACE (not JSON, or JSON but not
 * a trace this package wrote), NAT_EVERSION (a newer format version).
 */
function readTrace (file) {
  let text
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch (err) {
    throw traceError('NAT_EIO', `cannot read ${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`, err)
  }
  let trace
  try {
    trace = JSON.parse(text)
  } catch (err) {
    throw traceError('NAT_EBADTRACE', `${file} is not valid JSON (${err.message})`, err)
  }
  return { trace: checkTrace(trace, file), stacks: stacksOf(trace) }
}

function checkTrace (trace, file = 'the trace') {
  if (Array.isArray(trace)) return { events: trace } // a bare event array (toJSON, toObjects)
  if (trace === null || typeof trace !== 'object') {
    throw traceError('NAT_EBADTRACE', `${file} is not a napi-async-trace trace (a JSON ${trace === null ? 'null' : typeof trace})`)
  }
  if (trace.format !== undefined && trace.format !== FORMAT) {
    throw traceError('NAT_EBADTRACE', `${file} is a ${JSON.stringify(trace.format)} file, not a napi-async-trace trace`)
  }
  if (typeof trace.formatVersion === 'number' && trace.formatVersion > FORMAT_VERSION) {
    throw traceError('NAT_EVERSION', `${file} has format version ${trace.formatVersion}; this version reads up to ${FORMAT_VERSION}`)
  }
  if (!Array.isArray(trace.events)) {
    throw traceError('NAT_EBADTRACE', `${file} has no "events" array${trace.traceEvents ? ' (it looks like a Chrome trace: pass the napi-async-trace recording instead)' : ''}`)
  }
  return trace
}

function stacksOf (trace) {
  const m = new Map()
  const s = trace && trace.stacks
  if (s !== null && typeof s === 'object' && !Array.isArray(s)) {
    for (const [k, v] of Object.entries(s)) {
      const id = Number(k)
      if (Number.isSafeInteger(id) && typeof v === 'string') m.set(id, v)
    }
  }
  return m
}

module.exports = { FORMAT, FORMAT_VERSION, toTrace, writeTrace, readTrace, checkTrace, stacksOf }
