'use strict'
// napi-async-trace: the JS surface. Arguments are checked here and bad ones
// throw TypeError/RangeError with a Node-style `code` before the addon is
// called; the addon checks again (it can be reached directly).
//
// Everything here runs on the JS thread of the env that called it (the main
// thread or a Worker). Recording, rings and drains are process-wide: one
// drain() anywhere takes the events of every thread and every env, each
// event carrying its env and thread.
const binding = require('./binding')
const { EventBatch, EVENT_NAMES, EVENT_TYPES } = require('./events')
const {
  validateInteger, validateObject, validateString, invalidArgValue
} = require('./errors')

const C = binding.constants

// Do napi async contexts carry AsyncLocalStorage into callbacks? They do
// where the store lives on the async resource (Node 20, 22); with
// AsyncContextFrame (Node 24+) they do not, and the engine then captures
// AsyncLocalStorage.snapshot() per task instead. Asked once per env, by
// experiment rather than by version number.
function probeContextCarriage () {
  const { AsyncLocalStorage } = require('node:async_hooks')
  const als = new AsyncLocalStorage()
  const marker = {}
  const handle = als.run(marker, () => binding.probeCapture())
  const carried = binding.probeRun(handle, () => als.getStore() === marker)
  als.disable()
  binding.setContextCarrier(carried ? null : AsyncLocalStorage.snapshot)
  return carried
}
const napiCarriesContext = probeContextCarriage()
const MAX_THREADS_LIMIT = 65536
const ENABLE_OPTIONS = new Set(['capacity', 'maxThreads'])

// Site names by index, filled from the addon as new sites appear. Sites
// are process-wide and never removed, so the cache only grows.
const siteNames = [null]
function siteName (index) {
  if (index >= siteNames.length) {
    const more = binding.sites(siteNames.length)
    for (const name of more) siteNames.push(name)
  }
  return index < siteNames.length ? siteNames[index] : null
}

/**
 * Starts recording. Options:
 *   capacity    records per thread ring, rounded up to a power of two in
 *               [constants.MIN_CAPACITY, constants.MAX_CAPACITY]
 *               (default constants.DEFAULT_CAPACITY); rings that exist
 *               keep their size.
 *   maxThreads  most thread rings at once (default 1024); a thread beyond
 *               the limit has its records dropped and counted.
 * When called outside any traced frame, the current turn becomes the root
 * frame 0 (executionBegin 0 now, executionEnd 0 when the turn ends).
 */
function enable (options = {}) {
  validateObject(options, 'options')
  for (const key of Object.keys(options)) {
    if (!ENABLE_OPTIONS.has(key)) {
      throw invalidArgValue(`options.${key}`, `is not an option (known: ${[...ENABLE_OPTIONS].join(', ')})`, options[key])
    }
  }
  const { capacity, maxThreads } = options
  if (capacity !== undefined) validateInteger(capacity, 'options.capacity', C.MIN_CAPACITY, C.MAX_CAPACITY)
  if (maxThreads !== undefined) validateInteger(maxThreads, 'options.maxThreads', 1, MAX_THREADS_LIMIT)
  if (binding.enable(capacity, maxThreads)) process.nextTick(binding.rootEnd)
}

/** Stops recording; recorded events stay until drained. */
function disable () {
  binding.disable()
}

/** True while recording. */
function isEnabled () {
  return binding.enabled()
}

/**
 * Moves the events recorded since the last drain (of every thread and env)
 * into one EventBatch, merged by time. Options: max, the most records to
 * take (the rest stay for the next drain). Dropped records appear as `lost`
 * events carrying their count.
 */
function drain (options) {
  let max = 0
  if (options !== undefined) {
    validateObject(options, 'options')
    if (options.max !== undefined) max = validateInteger(options.max, 'options.max', 1, 0xffffffff)
  }
  return new EventBatch(binding.drain(max), siteName)
}

/**
 * Counters of the engine: recorded (committed records, ever), dropped
 * (exact, ever), drained, pending (in rings now), capacity, rings, threads
 * (recording now), threadsSeen, ringBytes, recordSize, lastId, sites,
 * enabled.
 */
function stats () {
  return binding.stats()
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
      const err = new RangeError(`The argument 'name' is longer than ${C.SITE_NAME_MAX} bytes`)
      err.code = 'ERR_OUT_OF_RANGE'
      throw err
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

/** Decodes a buffer drained earlier (a copy of batch.buffer). */
function decode (buffer) {
  return new EventBatch(buffer, siteName)
}

module.exports = {
  enable,
  disable,
  isEnabled,
  drain,
  decode,
  stats,
  marks,
  EventBatch,
  EVENT_NAMES,
  EVENT_TYPES,
  nativeApi: binding.nativeApi,
  constants: C,
  version: C.VERSION,
  // How callbacks get their requester's AsyncLocalStorage store here:
  // 'napi' (Node's own async context) or 'snapshot' (one
  // AsyncLocalStorage.snapshot() per task, Node 24+).
  contextCarrier: napiCarriesContext ? 'napi' : 'snapshot'
}
