'use strict'
// napi-async-trace: the JS surface. Arguments are checked here and bad ones
// throw TypeError/RangeError with a `code` (NAT_EINVAL, NAT_ERANGE, ...;
// lib/errors.js) before the addon is called; the addon checks again (it can
// be reached directly) and throws the same codes.
//
// Everything here runs on the JS thread of the env that called it (the main
// thread or a Worker). Recording and rings are process-wide; reading is per
// consumer (lib/consumer.js): drain() here, each track(), the recorder and
// the bridges each see every event of every thread and env, each event
// carrying its env and thread.

// One engine per process (see lib/binding.js): when another copy of the
// package was loaded first in this env, its module is this one. A copy of
// another version says so once; nat.engine names the copy in use.
const ENGINE = Symbol.for('napi-async-trace:engine')
const OWN_VERSION = require('../package.json').version
const firstEngine = globalThis[ENGINE]
if (firstEngine !== undefined && firstEngine !== null && firstEngine.exports) {
  if (firstEngine.version !== OWN_VERSION) {
    if (firstEngine.warned === undefined) firstEngine.warned = new Set()
    if (!firstEngine.warned.has(OWN_VERSION)) {
      firstEngine.warned.add(OWN_VERSION)
      process.emitWarning(`napi-async-trace ${OWN_VERSION} (${__dirname}) found napi-async-trace ` +
        `${firstEngine.version} (${firstEngine.path}) already loaded and uses it: one engine per process`,
      { code: 'NAT_SECOND_COPY' })
    }
  }
  module.exports = firstEngine.exports
  return // eslint-disable-line no-unreachable
}

const binding = require('./binding')
const { EventBatch, EVENT_NAMES, EVENT_TYPES } = require('./events')
const {
  validateInteger, validateObject, validateString, invalidArgValue, invalidArgType, natError
} = require('./errors')
const { AsyncGraph, formatSteps, checkItems } = require('./graph')
const { Bridge, LIB_DIR } = require('./bridge')
const { own } = require('./options')
const { Consumer, DEFAULT_LIMIT: CONSUMER_LIMIT, MAX_LIMIT: CONSUMER_MAX_LIMIT } = require('./consumer')
const addonsLib = require('./addons')

const C = binding.constants

// Does napi_open_callback_scope carry AsyncLocalStorage into callbacks?
// It does where the store lives on the async resource (Node 20, 22); with
// AsyncContextFrame (Node 24+) only napi_make_callback does, which the
// engine uses by default (through a native trampoline). Asked once per env,
// by experiment rather than by version number; the scope saves a JS call
// per dispatched item where it works.
function probeScopeCarrier () {
  const { AsyncLocalStorage } = require('node:async_hooks')
  const als = new AsyncLocalStorage()
  const marker = {}
  const handle = als.run(marker, () => binding.probeCapture())
  const carried = binding.probeRun(handle, () => als.getStore() === marker) === true
  als.disable()
  binding.setScopeCarrier(carried)
}
probeScopeCarrier()

const MAX_THREADS_LIMIT = 65536
const ENABLE_OPTIONS = new Set(['capacity', 'maxThreads', 'stacks', 'stackLimit', 'js', 'limit', 'drain', 'addons'])
const DEFAULT_STACK_LIMIT = 10000
// A kept link stack costs about 1.4 KB of heap (V8's captured frames plus
// the formatted text once read): stackLimit may take at most a quarter of
// this process's heap limit, and never more than a million.
const STACK_BYTES = 1500
const MAX_STACK_LIMIT = Math.max(DEFAULT_STACK_LIMIT,
  Math.min(1e6, Math.floor(require('node:v8').getHeapStatistics().heap_size_limit / 4 / STACK_BYTES)))
const STACK_LINES = 12 // most lines of a link stack kept


const { siteName } = require('./sites')
const { linkHooks } = require('./hooks')

/**
 * Starts recording. Options:
 *   capacity    records per thread ring, rounded up to a power of two in
 *               [constants.MIN_CAPACITY, constants.MAX_CAPACITY]
 *               (default constants.DEFAULT_CAPACITY); rings that exist
 *               keep their size.
 *   maxThreads  most thread rings at once (default 1024); a thread beyond
 *               the limit has its records dropped and counted.
 *   stacks      true: capture the JS stack of every link made on this JS
 *               thread (linkStack(id), graph pending() and stack()). Costs
 *               one JS call and one V8 stack capture per link (a few µs);
 *               false turns it off; absent leaves it as it is.
 *   stackLimit  most link stacks kept (default 10000; the oldest go first,
 *               counted in stats().stacksEvicted).
 *   js          true or { ignore: [types] }: the JS resource bridge
 *               (promises, timers, I/O through async_hooks, recorded as
 *               sites js:<type>); false turns it off; absent leaves it.
 *   addons      true: zero-code tracing of unmodified Node-API addons
 *               (rebinds the addons loaded now and hooks process.dlopen
 *               for later ones; see addons()); false puts every rebound
 *               import back (process-wide); absent leaves it.
 *   limit       most records drain() keeps waiting between two calls
 *               (default 1048576); past it they are counted as lost.
 *   drain       false: this program does not read with drain() (another
 *               consumer does, e.g. a recorder); no queue is kept for it
 *               until drain() is first called. Default true.
 * When called outside any traced frame, the current turn becomes the root
 * frame 0 (executionBegin 0 now, executionEnd 0 when the turn ends).
 */
function enable (options = {}) {
  validateObject(options, 'options')
  options = own(options)
  for (const key of Object.keys(options)) {
    if (!ENABLE_OPTIONS.has(key)) {
      throw invalidArgValue(`options.${key}`, `is not an option (known: ${[...ENABLE_OPTIONS].join(', ')})`, options[key])
    }
  }
  const { capacity, maxThreads, stacks, stackLimit, limit, addons } = options
  let { js } = options
  if (limit !== undefined) validateInteger(limit, 'options.limit', 1, CONSUMER_MAX_LIMIT)
  if (options.drain !== undefined && typeof options.drain !== 'boolean') throw invalidArgType('options.drain', 'of type boolean', options.drain)
  if (capacity !== undefined) validateInteger(capacity, 'options.capacity', C.MIN_CAPACITY, C.MAX_CAPACITY)
  if (maxThreads !== undefined) validateInteger(maxThreads, 'options.maxThreads', 1, MAX_THREADS_LIMIT)
  if (stacks !== undefined && typeof stacks !== 'boolean') throw invalidArgType('options.stacks', 'of type boolean', stacks)
  if (stackLimit !== undefined) validateInteger(stackLimit, 'options.stackLimit', 1, MAX_STACK_LIMIT)
  if (addons !== undefined && typeof addons !== 'boolean') throw invalidArgType('options.addons', 'of type boolean', addons)
  let jsIgnore
  if (js !== undefined && typeof js !== 'boolean') {
    validateObject(js, 'options.js')
    js = own(js)
    for (const key of Object.keys(js)) {
      if (key !== 'ignore') throw invalidArgValue(`options.js.${key}`, 'is not an option (known: ignore)', js[key])
    }
    if (js.ignore !== undefined) {
      if (!Array.isArray(js.ignore) || !js.ignore.every((t) => typeof t === 'string')) {
        throw invalidArgType('options.js.ignore', 'an array of strings', js.ignore)
      }
      jsIgnore = js.ignore
    }
  }
  if (options.drain !== false) programConsumer(limit)
  if (binding.enable(capacity, maxThreads)) process.nextTick(binding.rootEnd)
  if (stackLimit !== undefined) setStackLimit(stackLimit)
  if (stacks === true) linkHooks.add(captureLinkStack)
  else if (stacks === false) linkHooks.delete(captureLinkStack)
  if (js === false) bridgeOff()
  else if (js !== undefined) bridgeOn(jsIgnore)
  if (addons === true) addonsLib.start()
  else if (addons === false) addonsLib.stop()
}

/** Stops recording; recorded events stay until drained. */
function disable () {
  bridgeOff()
  linkHooks.delete(captureLinkStack)
  binding.disable()
}

/** True while recording. */
function isEnabled () {
  return binding.enabled()
}

// The program's own consumer, read by drain(): made by enable() or the
// first drain(), so events before either are not kept for it.
let program = null
function programConsumer (limit) {
  if (program === null) program = new Consumer(binding, siteName, { name: 'drain', limit: limit === undefined ? CONSUMER_LIMIT : limit })
  return program
}

/**
 * The events recorded since the last drain (of every thread and env) as
 * one EventBatch, merged by time. Other consumers (track(), a recorder)
 * see the same events: drain() takes nothing from them. Options: max, the
 * most records to take (the rest stay for the next drain). Records dropped
 * by the engine, or not kept because more than enable()'s `limit` waited,
 * appear as `lost` events carrying their count.
 */
function drain (options) {
  return programConsumer().drain(options)
}

/**
 * A consumer of its own: sees every event drained from the engine from
 * now on, whoever else reads. options: name (shown in stats().consumers),
 * limit (most records waiting, default 1048576; the rest are counted).
 * Returns { drain(options), stats(), close(), countLost(n) }.
 */
function consumer (options = {}) {
  validateObject(options, 'options')
  const c = new Consumer(binding, siteName, options)
  c.drain() // what came before is not its own
  return c
}

/**
 * Counters of the engine: recorded (committed records, ever), dropped
 * (exact, ever), drained, pending (in rings now), capacity, rings, threads
 * (recording now), threadsSeen, ringBytes, recordSize, lastId, sites,
 * enabled, clock (what stamps records: 'tsc', 'cntvct' or 'monotonic');
 * consumers: [{ name, env, queued, limit, delivered, lost, open }].
 */
function stats () {
  const s = binding.stats()
  // Every consumer of the process (drain, track, recorders, in any env)
  // with what it has waiting and what it lost.
  s.consumers = binding.consumers()
  s.stacks = linkStacks.map.size
  s.stacksEvicted = linkStacks.evicted
  s.bridge = bridge !== null && bridge.active
  s.bridgeErrors = bridge === null ? 0 : bridge.errors
  // JS resources the bridge tracks now: linked, not yet run or destroyed,
  // and promises with continuations waiting on them.
  const sizes = bridge === null ? { links: 0, waiting: 0 } : bridge.sizes
  s.bridgeLinks = sizes.links
  s.bridgeWaiting = sizes.waiting
  return s
}

function validateSite (site, name) {
  return validateInteger(site, name, 0, 0xffffffff)
}

function validateId (id, name) {
  return validateInteger(id, name, 0, Number.MAX_SAFE_INTEGER)
}

/**
 * Manual marks, for JS code with its own dispatch (and for tests): the
 * same events the tracked queues record, on the calling env's frame stack.
 */
const marks = Object.freeze({
  /** Interns a `module:kind` site name; returns its index. */
  site (name) {
    validateString(name, 'name')
    if (name.length === 0) throw invalidArgValue('name', 'must not be empty', name)
    if (Buffer.byteLength(name) > C.SITE_NAME_MAX) {
      throw natError('NAT_ENAMETOOLONG', `The argument 'name' is longer than ${C.SITE_NAME_MAX} bytes`)
    }
    if (name.includes('\0')) throw invalidArgValue('name', 'must not contain NUL', name)
    return binding.site(name)
  },
  /** Records a link in the current frame; returns the new linkID (0 when off). */
  link (site) {
    return binding.link(validateSite(site, 'site'))
  },
  /** Records that linkID became ready; returns the new readyID (0 when off). */
  ready (site, linkID) {
    validateSite(site, 'site')
    return binding.ready(site, validateId(linkID, 'linkID'))
  },
  /** Opens a frame for readyID; returns its executeID (0 when off). */
  begin (site, readyID) {
    validateSite(site, 'site')
    return binding.begin(site, validateId(readyID, 'readyID'))
  },
  /** Closes the innermost frame, which must be executeID. */
  end (executeID) {
    binding.end(validateId(executeID, 'executeID'))
  },
  /** The executeID of the innermost open frame (0: the root). */
  current () {
    return binding.currentFrame()
  }
})

// ---- link stacks (enable({ stacks: true })) --------------------------------

// linkID -> an object whose `stack` V8 formats on first read (capture is
// cheap, formatting is not). `order` holds the linkIDs in capture order as
// a ring, so the oldest is evicted in O(1) past the limit (iterating a Map
// from its start after many deletes is not O(1) in V8).
const linkStacks = { map: new Map(), order: [], next: 0, limit: DEFAULT_STACK_LIMIT, evicted: 0, captured: 0 }

// Called by the engine with the linkID of each link made on this thread.
function captureLinkStack (linkID) {
  const holder = {}
  // Room for the frames linkStack() cuts (the bridge's, async_hooks').
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = limit + 8
  try {
    Error.captureStackTrace(holder, captureLinkStack)
  } finally {
    Error.stackTraceLimit = limit
  }
  const ls = linkStacks
  if (ls.order.length < ls.limit) {
    ls.order.push(linkID)
  } else {
    if (ls.next >= ls.limit) ls.next = 0
    if (ls.map.delete(ls.order[ls.next]) && ls.evicted++ === 0) warnEvicted(ls.limit)
    ls.order[ls.next++] = linkID
  }
  ls.map.set(linkID, holder)
  ls.captured++
}

// Said once per process: from now on the oldest link stacks are dropped
// (stats().stacksEvicted counts them).
function warnEvicted (limit) {
  process.emitWarning(`napi-async-trace keeps the newest ${limit} link stacks (stackLimit); older ones are ` +
    'now evicted and counted in stats().stacksEvicted', { code: 'NAT_STACKS_EVICTED' })
}

function setStackLimit (limit) {
  const ls = linkStacks
  // Keep the newest `limit` in capture order.
  const ordered = ls.order.length < ls.limit ? ls.order : [...ls.order.slice(ls.next), ...ls.order.slice(0, ls.next)]
  const drop = Math.max(0, ordered.length - limit)
  for (let i = 0; i < drop; i++) if (ls.map.delete(ordered[i]) && ls.evicted++ === 0) warnEvicted(limit)
  ls.order = ordered.slice(drop)
  ls.next = 0
  ls.limit = limit
}


/**
 * The JS stack captured when link linkID was made (enable({ stacks: true })),
 * without the engine's own frames; undefined when none was kept.
 */
function linkStack (linkID) {
  validateId(linkID, 'linkID')
  const holder = linkStacks.map.get(linkID)
  if (holder === undefined) return undefined
  const text = String(holder.stack)
  const lines = text.split('\n').slice(1)
    .filter((l) => !l.includes(LIB_DIR) && !l.includes('node:internal/async_hooks'))
  return lines.slice(0, STACK_LINES).map((l) => l.trim()).join('\n')
}

/**
 * The link stacks captured since `cursor` (0 at first, then the cursor
 * returned) that are still kept: { cursor, stacks: [[linkID, text], ...] }.
 * For recorders that write stacks as they go.
 */
function linkStacksSince (cursor) {
  validateInteger(cursor, 'cursor', 0, Number.MAX_SAFE_INTEGER)
  const ls = linkStacks
  const fresh = Math.min(ls.captured - cursor, ls.order.length)
  const stacks = []
  // The newest `fresh` entries of the ring, oldest first.
  const n = ls.order.length
  const newest = ls.order.length < ls.limit ? n : ls.next // one past the newest
  for (let k = fresh; k > 0; k--) {
    const id = ls.order[((newest - k) % n + n) % n]
    const text = linkStack(id)
    if (text !== undefined) stacks.push([id, text])
  }
  return { cursor: ls.captured, stacks }
}

// ---- the JS resource bridge (enable({ js: true })) -------------------------

let bridge = null
function bridgeOn (ignore) {
  // A running bridge keeps what it has in flight; only its ignore list
  // changes when a new one is given.
  if (bridge !== null && bridge.active) {
    if (ignore !== undefined) bridge.setIgnore(ignore)
    return
  }
  bridge = new Bridge(binding, { ignore })
  bridge.enable()
}
function bridgeOff () {
  if (bridge !== null) bridge.disable()
}

// ---- graph -------------------------------------------------------------------

/**
 * An AsyncGraph of events (an EventBatch, an array of event objects, or
 * { events }), accumulating more with graph.add(). options.stacks: where
 * link stacks come from (default: the ones this process captured).
 */
function graph (events, options = {}) {
  validateObject(options, 'options')
  options = own(options)
  const g = new AsyncGraph({ ...options, stacks: options.stacks === undefined ? linkStack : options.stacks })
  if (events !== undefined) g.add(events)
  return g
}

// ---- track and the node:test helper ------------------------------------------

// Trackers running since one of them switched recording on; the last of
// them switches it off.
let trackersOwning = 0

const TRACK_OPTIONS = new Set(['stacks', 'js', 'capacity', 'limit'])

// Starts watching: enables recording when off (and turns it off again at
// the end), and collects what every drain() takes from now on.
function startTracker (options, name) {
  validateObject(options, name)
  options = own(options)
  for (const key of Object.keys(options)) {
    if (!TRACK_OPTIONS.has(key)) {
      throw invalidArgValue(`${name}.${key}`, `is not an option (known: ${[...TRACK_OPTIONS].join(', ')})`, options[key])
    }
  }
  // Recording is switched off again when the last tracker that found it
  // off (or that one's successors) is done, not when the first one is.
  if (!binding.enabled()) trackersOwning = 1
  else if (trackersOwning > 0) trackersOwning++
  const owns = trackersOwning > 0
  const opts = { drain: false }
  for (const key of TRACK_OPTIONS) if (key !== 'limit' && options[key] !== undefined) opts[key] = options[key]
  // The tracker's own consumer: bounded by options.limit; what did not fit
  // is counted in result.lost (and its pending list may then be short).
  const c = consumer({ name: name === 'options' ? 'track' : 'assertNoPending', limit: options.limit === undefined ? CONSUMER_LIMIT : options.limit })
  enable(opts)
  const g = graph()
  const start = Number(process.hrtime.bigint())
  const env = binding.envSerial()
  const tracker = {
    graph: g,
    lost: 0,
    // Everything drained, then what is still pending from this env since
    // the start: links, readies, and frames not open right now.
    finish (leftOpen = []) {
      const batch = c.drain()
      c.close()
      try {
        g.add(batch)
      } catch (err) {
        // The graph refused them (a limit of its own): counted, not lost
        // silently.
        c.countLost(batch.length)
        tracker.lost += batch.length
        process.emitWarning(`napi-async-trace: ${tracker.lost} record(s) left out of the tracker's graph: ${err.message}`, { code: 'NAT_TRACK_LIMIT' })
      }
      const kept = batch.consumerLost
      if (kept > 0) {
        tracker.lost += kept
        process.emitWarning(`napi-async-trace: the tracker kept ${batch.length} records and lost ${kept} past its limit (${options.limit === undefined ? CONSUMER_LIMIT : options.limit}); pending may be incomplete (raise options.limit)`, { code: 'NAT_TRACK_LIMIT' })
      }
      const open = new Set(binding.openFrames())
      // Unsettled promise continuations are left out: they hold nothing
      // alive, and test runners and async functions leave plenty of them
      // (Jest's open-handle check skips promises too).
      const pending = g.pending({ since: start, now: Number(process.hrtime.bigint()) })
        .filter((p) => p.env === env && !(p.kind === 'frame' && open.has(p.id)) &&
                       p.site !== TRACK_SITE_NAME && !RUNNER_SITES.has(p.site))
      // Frames fn left open were closed by track(): reported, marked.
      for (const id of leftOpen) {
        const f = g.node(id)
        if (f !== null && f.kind === 'frame') pending.push({ ...f, leftOpen: true, age: Number(process.hrtime.bigint()) - f.ts })
      }
      if (owns && --trackersOwning === 0) disable()
      return pending
    }
  }
  return tracker
}

const TRACK_SITE_NAME = 'napi-async-trace:track'
// Left out of what trackers report, as Jest's open-handle check does:
// unsettled promise continuations hold nothing alive, and node:test's own
// `Test` resources (one per test and hook) are the runner's bookkeeping,
// run by the runner after the check (a t.after() registered later).
const RUNNER_SITES = new Set(['js:PROMISE', 'js:Test'])
let trackSite = 0

/**
 * Runs fn (sync or async) inside a frame of its own and resolves to
 * { result, pending, graph } once it has settled: pending lists the links,
 * readies and frames recorded in this env since fn started that are still
 * unfinished (see AsyncGraph#pending), with their linking JS stacks when
 * options.stacks is true; JS resources too with options.js. Recording is
 * switched on for the call when it was off. track() reads through a
 * consumer of its own (drain() still sees the same events), keeping at
 * most options.limit records (default 1048576); result.lost counts what it
 * could not keep (a warning NAT_TRACK_LIMIT says so). If fn throws or
 * rejects, track rejects with that error.
 */
function track (fn, options = {}) {
  if (typeof fn !== 'function') throw invalidArgType('fn', 'of type function', fn)
  return trackAsync(fn, startTracker(options, 'options'))
}

async function trackAsync (fn, tracker) {
  let result
  let leftOpen = []
  try {
    if (trackSite === 0) trackSite = binding.site(TRACK_SITE_NAME)
    const depth = binding.openFrames().length
    binding.begin(trackSite, 0)
    try {
      result = fn()
    } finally {
      leftOpen = closeFramesFrom(depth)
    }
    result = await result
  } catch (err) {
    tracker.finish(leftOpen)
    throw err
  }
  const pending = tracker.finish(leftOpen)
  return { result, pending, graph: tracker.graph, lost: tracker.lost }
}

// Ends the frame opened at stack depth `depth` and, first, every frame
// fn left open inside it (as the engine's own dispatch does), so that a
// leaky fn can neither make track() fail nor leave later links in its
// frames. Returns the executeIDs of the frames fn left open.
function closeFramesFrom (depth) {
  const open = binding.openFrames()
  const left = []
  for (let i = open.length - 1; i >= depth; i--) {
    if (i > depth && open[i] !== 0) left.push(open[i])
    binding.end(open[i])
  }
  return left
}

/** Pending items (from track() or graph.pending()) as readable text. */
function formatPending (items) {
  const lines = []
  for (const p of checkItems(items, 'items')) {
    const what = p.kind === 'link'
      ? 'linked, never made ready'
      : p.kind === 'ready' ? `made ready (link ${p.linkID}), never run` : 'frame never ended'
    const where = p.kind === 'link' ? ` in frame ${p.frame}` : p.kind === 'ready' ? ` by frame ${p.readyBy}` : ''
    lines.push(`${p.site || '(no site)'}: ${p.kind} ${p.id} ${what}${where}, thread ${p.thread}, ${(p.age / 1e6).toFixed(3)} ms ago`)
    if (p.stack) for (const l of p.stack.split('\n')) lines.push(`    ${l}`)
    else if (p.chainStack) {
      lines.push(`    started by link ${p.chainStackLinkID}:`)
      for (const l of p.chainStack.split('\n')) lines.push(`    ${l}`)
    }
  }
  return lines.join('\n')
}

/**
 * node:test helper: call at the top of a test (assertNoPending(t)); after
 * the test, fails it when native tasks it started are still pending,
 * naming each site and, with { stacks: true }, the stack that linked it.
 * Options as track()'s.
 */
function assertNoPending (t, options = {}) {
  if (t === null || typeof t !== 'object' || typeof t.after !== 'function') {
    throw invalidArgType('t', 'a node:test TestContext (with after())', t)
  }
  const tracker = startTracker(options, 'options')
  t.after(() => {
    const pending = tracker.finish()
    if (pending.length > 0) {
      const { AssertionError } = require('node:assert')
      throw new AssertionError({
        message: `${t.name ? `test "${t.name}"` : 'the test'} left ${pending.length} async task(s) pending:\n${formatPending(pending)}`,
        actual: pending.length,
        expected: 0,
        operator: 'assertNoPending'
      })
    }
  })
}

/**
 * Records this process into a stream trace file while it runs (see
 * lib/recorder.js): recorder(file, { stacks, js, capacity, limit,
 * compress, interval, meta }) -> { stop(info), file }.
 */
function recorder (file, options) {
  return require('./recorder').recorder(module.exports, file, options)
}

/**
 * Writes events (an EventBatch, an array of them, or event objects) to a
 * stream trace file the CLI and graph() read. options: stacks (a Map or
 * (linkID) => text; default this process's), compress (default true),
 * meta (extra META fields). Synchronous.
 */
function writeTrace (file, events, options = {}) {
  validateObject(options, 'options')
  return require('./trace-file').writeStreamTrace(file, events, {
    stacks: options.stacks === undefined ? linkStack : options.stacks,
    compress: options.compress,
    meta: { version: C.VERSION, ...options.meta }
  })
}

/**
 * Registers fn() -> a W3C traceparent string (or undefined), asked on the
 * JS thread each time a tracked task or async work run is linked there; the
 * answer is kept with the task for native threads to read through the C
 * ABI (task_traceparent, work_traceparent). null unregisters. Nothing is
 * asked or kept while none is registered. nat.otel.enable() registers one
 * made from the active OpenTelemetry span.
 */
function setLinkContext (fn) {
  if (fn !== null && typeof fn !== 'function') throw invalidArgType('fn', 'a function or null', fn)
  binding.setLinkContext(fn)
}

/** Decodes a buffer drained earlier (a copy of batch.buffer). */
function decode (buffer) {
  return new EventBatch(buffer, siteName)
}

module.exports = {
  enable,
  disable,
  isEnabled,
  drain,
  consumer,
  recorder,
  writeTrace,
  readTrace: (file) => require('./trace-file').readTraceFile(file),
  linkStacksSince,
  Consumer,
  decode,
  stats,
  marks,
  graph,
  track,
  assertNoPending,
  addons: addonsLib.list,
  linkStack,
  formatPending,
  formatStack: formatSteps,
  renderReport: require('./report').renderReport,
  AsyncGraph,
  EventBatch,
  EVENT_NAMES,
  EVENT_TYPES,
  setLinkContext,
  nativeApi: binding.nativeApi,
  constants: Object.freeze({ ...C, MAX_STACK_LIMIT }),
  // Every error code a user can see: { NAT_EINVAL: { errno, message }, ... }.
  codes: require('./errors').codes,
  version: C.VERSION,
  // The copy of the package that runs the engine in this env (the first one
  // loaded; later copies use it).
  engine: Object.freeze({ version: OWN_VERSION, path: __dirname })
}
// The OpenTelemetry span bridge and the diagnostics_channel TracingChannel
// (lib/otel.js, lib/channel.js); the span bridge reads through a consumer
// of its own.
module.exports.otel = require('./otel').create(module.exports)
module.exports.channel = require('./channel').channel
if (globalThis[ENGINE] !== undefined && !globalThis[ENGINE].exports) globalThis[ENGINE].exports = module.exports
