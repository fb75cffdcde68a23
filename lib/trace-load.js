'use strict'
// Reading a recording for the CLI and the viewers: a JSON trace, a stream
// trace, or a stream trace with the files of the processes it started
// (`<file>.d/*.nat`). Pure JS (no native addon).
//
//   scanTrace(file)      what is in it, cheaply (headers, META and END)
//   loadGraph(file)      an AsyncGraph of it, whole when it has at most
//                        `limit` events, else of its first `limit` events
//                        (sampled: true says so)
//   summariseTrace(file) a Summary (lib/summary.js) of all of it in
//                        bounded memory
//
// Processes: IDs, envs and threads are numbered per process. When several
// processes go into one graph, each process after the first has its IDs,
// envs and threads moved past the previous ones' (0, the root, stays 0),
// so nothing collides; `processes` lists each with its offsets.
const stream = require('./trace-stream')
const { AsyncGraph } = require('./graph')
const { readTrace } = require('./trace-file')
const { Summary } = require('./summary')
const { EventBatch, RECORD_SIZE } = require('./events')

const GRAPH_LIMIT = 2_000_000

function progressOf (onProgress, files) {
  if (!onProgress) return undefined
  let done = 0
  let sizes = 0
  const fs = require('node:fs')
  for (const f of files) { try { sizes += fs.statSync(f).size } catch {} }
  return {
    each: (pos) => onProgress(done + pos, sizes),
    next: (size) => { done += size }
  }
}

/**
 * { format: 'json' | 'stream', files: [{ file, meta, end, events, chunks,
 * bytes, truncated }], events } without decoding events.
 */
function scanTrace (file) {
  if (!stream.isStreamFile(file)) {
    const { trace } = readTrace(file)
    return { format: 'json', files: [{ file, meta: trace, end: null, events: trace.events.length, truncated: null }], events: trace.events.length }
  }
  const files = []
  let total = 0
  for (const f of stream.traceFiles(file)) {
    let events = 0
    const r = stream.readStream(f, {
      only: new Set([stream.CHUNK.META, stream.CHUNK.END]),
      onSkip: (type, raw) => { if (type === stream.CHUNK.EVENTS) events += raw / RECORD_SIZE }
    })
    files.push({ file: f, meta: r.meta, end: r.end, events, chunks: r.chunks, bytes: r.bytes, size: r.size, truncated: r.truncated })
    total += events
  }
  return { format: 'stream', files, events: total }
}

// Moves IDs, envs and threads of a batch by the offsets (in place: the
// batch owns its buffer).
function shift (b, idOff, envOff, threadOff) {
  if (idOff === 0 && envOff === 0 && threadOff === 0) return
  const u32 = new Uint32Array(b.buffer)
  const W = RECORD_SIZE / 4
  for (let i = 0; i < b.length; i++) {
    for (const word of [2, 4, 6]) {
      if (word === 4 && b.typeAt(i) === 5) continue // a lost count, not an ID
      const k = i * W + word
      const v = u32[k] + u32[k + 1] * 4294967296
      if (v === 0) continue
      const n = v + idOff
      u32[k] = n % 4294967296
      u32[k + 1] = Math.floor(n / 4294967296)
    }
    if (u32[i * W + 9] !== 0) u32[i * W + 9] += envOff
    if (u32[i * W + 10] !== 0) u32[i * W + 10] += threadOff
  }
}

function maxima (b) {
  let id = 0
  let env = 0
  let thread = 0
  for (let i = 0; i < b.length; i++) {
    if (b.typeAt(i) !== 5) id = Math.max(id, b.executeIDAt(i), b.linkIDAt(i), b.readyIDAt(i))
    env = Math.max(env, b.envAt(i))
    thread = Math.max(thread, b.threadAt(i))
  }
  return { id, env, thread }
}

/**
 * { graph, format, files, processes, events (in the file), added,
 * sampled, truncated: [{ file, offset, reason }], stats } for the first
 * `limit` events of the recording.
 */
function loadGraph (file, { limit = GRAPH_LIMIT, onProgress } = {}) {
  if (!stream.isStreamFile(file)) {
    const { trace, stacks } = readTrace(file)
    const g = new AsyncGraph({ stacks })
    g.add(trace)
    return { graph: g, format: 'json', trace, files: [file], processes: [{ pid: trace.pid, argv: trace.argv }], events: g.events, added: g.events, sampled: false, truncated: [], stats: trace.stats }
  }
  const files = stream.traceFiles(file)
  const stacks = new Map()
  const g = new AsyncGraph({ stacks })
  const processes = []
  const truncated = []
  let added = 0
  let total = 0
  let off = { id: 0, env: 0, thread: 0 }
  let stats = null
  const prog = progressOf(onProgress, files)
  for (const f of files) {
    const batches = []
    let max = { id: 0, env: 0, thread: 0 }
    const idOff = off.id
    const envOff = off.env
    const threadOff = off.thread
    let meta = null
    const r = stream.readStream(f, {
      onMeta: (m) => { meta = m },
      onEvents: (b) => {
        total += b.length
        if (added >= limit) return
        const take = Math.min(b.length, limit - added)
        const part = take === b.length ? b : new EventBatch(b.buffer.slice(0, take * RECORD_SIZE), b._siteName)
        const m = maxima(part)
        max = { id: Math.max(max.id, m.id), env: Math.max(max.env, m.env), thread: Math.max(max.thread, m.thread) }
        shift(part, idOff, envOff, threadOff)
        batches.push(part)
        added += take
      },
      onStacks: (m) => { for (const [k, v] of m) stacks.set(k + idOff, v) },
      onProgress: prog && prog.each
    })
    if (prog) prog.next(r.size)
    for (const b of batches) g.add(b)
    if (r.truncated) truncated.push({ file: f, ...r.truncated })
    if (stats === null && r.end) stats = r.end.stats || null
    processes.push({ file: f, pid: meta && meta.pid, ppid: meta && meta.ppid, argv: meta && meta.argv, root: meta && meta.root, idOffset: idOff, envOffset: envOff, threadOffset: threadOff, end: r.end, truncated: r.truncated })
    off = { id: idOff + max.id + 1, env: envOff + max.env, thread: threadOff + max.thread }
  }
  return { graph: g, format: 'stream', files, processes, events: total, added, sampled: added < total, truncated, stats }
}

/** { summary, files, processes, truncated } of the whole recording. */
function summariseTrace (file, { onProgress } = {}) {
  if (!stream.isStreamFile(file)) {
    // A JSON trace is in memory already; its objects become records.
    const { trace, stacks } = readTrace(file)
    const s = new Summary({ stacks })
    s.process({ pid: trace.pid, argv: trace.argv, root: true })
    s.add(objectBatch(trace.events))
    return { summary: s, files: [file], processes: s.processes, truncated: [] }
  }
  const files = stream.traceFiles(file)
  const s = new Summary()
  const truncated = []
  const prog = progressOf(onProgress, files)
  for (const f of files) {
    // Stacks first (a small first pass over STACKS chunks only): a frame's
    // label needs its link's stack, which the recorder writes after the
    // link's events.
    const stacks = new Map()
    stream.readStream(f, { only: new Set([stream.CHUNK.META, stream.CHUNK.STACKS]), onStacks: (m) => { for (const [k, v] of m) stacks.set(k, v) } })
    let started = false
    const r = stream.readStream(f, {
      onMeta: (m) => { s.process(m, stacks); started = true },
      onEvents: (b) => s.add(b),
      onProgress: prog && prog.each
    })
    if (!started) s.process({ pid: null }, stacks)
    if (prog) prog.next(r.size)
    if (r.truncated) truncated.push({ file: f, ...r.truncated })
  }
  return { summary: s, files, processes: s.processes, truncated }
}

// Event objects (a JSON trace) as one EventBatch with their own site names.
function objectBatch (events) {
  const { recordsOf } = require('./trace-file')
  const { buffer, names } = recordsOf(events)
  const b = new EventBatch(buffer)
  b.siteAt = (i) => names[i]
  return b
}

module.exports = { scanTrace, loadGraph, summariseTrace, GRAPH_LIMIT }
