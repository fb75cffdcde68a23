'use strict'
// The OpenTelemetry span bridge: one span per native work item, through
// the user's own TracerProvider, so native work shows up wherever their
// spans already go (OTLP, Jaeger, ...).
//
//   nat.otel.enable({ tracerProvider })   starts recording and the bridge
//   nat.otel.flush()                      builds spans of what is recorded
//   nat.otel.disable()
//
// How. The engine records link/ready/execution events in native rings; the
// bridge reads them through a consumer of its own (nat.consumer(): the
// program's drain(), track() and a recorder still see every event) and
// builds spans when it drains, every `interval` ms and on flush(), so
// nothing per item runs in JS on the hot path except one call at link time: the link hook remembers, per linkID, the OpenTelemetry
// context active in the frame that linked the item (a Map entry, taken back
// when the link is drained). A span:
//
//   name        the site (`module:kind`)
//   start       the link; end: the end of the item's callback frame (or its
//               abort, with status ERROR)
//   parent      the span active at link time; or, when the item was linked
//               inside the callback of another traced item and the code
//               there started no span of its own, that item's span (so a
//               chain of native hops reads as a chain of spans, as its async
//               call stack does)
//   events      ready, executionBegin, executionEnd (each with its thread)
//   attributes  nat.site, nat.link_id, nat.execute_id, nat.thread.link,
//               nat.thread.ready, nat.thread.execution, nat.queue_wait_ns
//               (link -> ready), nat.loop_wait_ns (ready -> executionBegin),
//               nat.run_ns (executionBegin -> executionEnd)
//
// Items with no parent span (linked outside any trace) make no span unless
// requireParentSpan is false, as OpenTelemetry's own instrumentations do.
// The user's sampler decides as for any span.
//
// Why a function and not an @opentelemetry/instrumentation class: what it
// instruments is not a module to patch on require (the engine is already
// the hook), and the instrumentation base class would make
// @opentelemetry/instrumentation (and require-in-the-middle) a runtime
// dependency of every user. enable()/disable() take the provider as the
// instrumentation classes do (setTracerProvider), and @opentelemetry/api is
// an optional peer dependency, taken from the program (or options.api).
//
// Everything here runs on the JS thread of the env that enabled it; spans
// are built only for items of that env (a Worker enables its own).
const { performance } = require('node:perf_hooks')
const binding = require('./binding')
const { linkHooks, isNativeSite } = require('./hooks')
const { EVENT_TYPES } = require('./events')
const { own } = require('./options')
const { validateObject, validateInteger, invalidArgType, invalidArgValue, natError } = require('./errors')

const OPTIONS = new Set(['tracerProvider', 'api', 'interval', 'requireParentSpan', 'traceparent', 'maxOpen', 'limit'])
const DEFAULT_INTERVAL = 1000
const DEFAULT_MAX_OPEN = 100000
const DEFAULT_LIMIT = 1 << 20 // records waiting for the bridge's next drain

const T_BEGIN = EVENT_TYPES.executionBegin
const T_END = EVENT_TYPES.executionEnd
const T_LINK = EVENT_TYPES.link
const T_READY = EVENT_TYPES.ready
const T_ABORT = EVENT_TYPES.abort
const T_READY_FAILED = EVENT_TYPES.readyFailed

// Engine timestamps are process.hrtime.bigint() nanoseconds (libuv's
// uv_hrtime, monotonic); OpenTelemetry's are epoch [seconds, nanoseconds].
// The SDK stamps a span's start with Date.now() (whole milliseconds) and
// measures its duration with performance.now(), so Date.now() is the wall
// clock to agree with. The offset is taken once, at the moment Date.now()
// steps to a new millisecond (a wait of at most 1 ms at enable()), which
// pins it to within microseconds; split into whole seconds and nanoseconds
// so that the sums below stay exact in doubles. Spans the SDK starts itself
// are up to 1 ms early (its truncation); ours are not.
function clockOffset () {
  // The step happened between the last reading of the old millisecond and
  // the first of the new one: bracketed by the monotonic clock read around
  // each. A bracket wider than 20 µs (the thread was preempted) is not
  // trusted; the next step is tried, for at most 20 ms, and the narrowest
  // bracket seen wins.
  let best = null
  for (let tries = 0; tries < 20; tries++) {
    const first = Date.now()
    let before = Number(process.hrtime.bigint())
    let now = first
    let after = before
    while (now === first) {
      before = after
      now = Date.now()
      after = Number(process.hrtime.bigint())
    }
    const width = after - before
    if (best === null || width < best.width) best = { width, now, mono: (before + after) / 2 }
    if (width <= 20e3) break
  }
  const sec = Math.floor(best.now / 1000)
  return { sec, ns: Math.round((best.now - sec * 1000) * 1e6 - best.mono) }
}

function create (nat) {
  let state = null // the running bridge, or null

  function toHrTime (ts) {
    const total = ts + state.offset.ns
    const s = Math.floor(total / 1e9)
    return [state.offset.sec + s, total - s * 1e9]
  }

  // Link hook: the context active where the item was linked.
  function onLink (linkID, executeID, site) {
    if (linkID === 0 || !isNativeSite(site)) return
    const s = state
    if (s.captured.size >= s.maxOpen) {
      s.captured.delete(s.captured.keys().next().value)
      s.counts.evicted++
    }
    s.captured.set(linkID, s.api.context.active())
  }

  function traceparentOf () {
    const { api } = state
    const sc = api.trace.getSpanContext(api.context.active())
    if (sc === undefined || !api.isSpanContextValid(sc)) return undefined
    return `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, '0')}`
  }

  function sameSpan (a, b) {
    return a !== undefined && b !== undefined && a.traceId === b.traceId && a.spanId === b.spanId
  }

  function openItem (batch, i) {
    const s = state
    const { api } = s
    const linkID = batch.linkIDAt(i)
    let ctx = s.captured.get(linkID)
    if (ctx !== undefined) s.captured.delete(linkID)
    const active = ctx === undefined ? undefined : api.trace.getSpanContext(ctx)
    const activeValid = active !== undefined && api.isSpanContextValid(active)
    // The item whose callback frame made this link, when it is traced.
    const outer = s.frames.get(batch.executeIDAt(i))
    let parent
    if (outer !== undefined && (!activeValid || sameSpan(active, outer.parentSC))) {
      parent = api.trace.setSpan(ctx === undefined ? api.ROOT_CONTEXT : ctx, outer.span)
    } else if (activeValid) {
      parent = ctx
    } else if (s.requireParentSpan) {
      s.counts.skipped++
      return
    } else {
      parent = ctx === undefined ? api.ROOT_CONTEXT : ctx
    }
    const ts = batch.tsAt(i)
    const site = batch.siteAt(i) || '(no site)'
    const thread = batch.threadAt(i)
    const span = s.tracer.startSpan(site, {
      kind: api.SpanKind.INTERNAL,
      startTime: toHrTime(ts),
      attributes: {
        'nat.site': site,
        'nat.link_id': linkID,
        'nat.thread.link': thread
      }
    }, parent)
    if (s.items.size >= s.maxOpen) {
      const [oldest, item] = s.items.entries().next().value
      s.items.delete(oldest)
      forget(item)
      s.counts.evicted++
    }
    s.items.set(linkID, {
      linkID,
      span,
      parentSC: api.trace.getSpanContext(parent),
      linkTs: ts,
      readyTs: -1,
      readyID: 0,
      readyThread: 0,
      beginTs: -1,
      executeID: -1,
      execThread: 0
    })
    s.counts.started++
  }

  // The attributes an item has by its end (one call, not one per field);
  // `endTs` -1 when it never ran.
  function finalAttributes (item, endTs) {
    const a = {}
    if (item.readyTs >= 0) {
      a['nat.thread.ready'] = item.readyThread
      a['nat.queue_wait_ns'] = item.readyTs - item.linkTs
    }
    if (item.beginTs >= 0) {
      a['nat.execute_id'] = item.executeID
      a['nat.thread.execution'] = item.execThread
      if (item.readyTs >= 0) a['nat.loop_wait_ns'] = item.beginTs - item.readyTs
      if (endTs >= 0) a['nat.run_ns'] = endTs - item.beginTs
    }
    return a
  }

  // Drops an item's entries in the ready and frame maps.
  function forget (item) {
    if (item.readyID !== 0) state.readies.delete(item.readyID)
    if (item.executeID !== -1) state.frames.delete(item.executeID)
  }

  // Builds spans from one drained batch.
  function add (batch) {
    const s = state
    if (s === null) return
    const n = batch.length
    for (let i = 0; i < n; i++) {
      if (batch.envAt(i) !== s.env) continue
      const type = batch.typeAt(i)
      if (type === T_LINK) {
        if (isNativeSite(batch.siteIndexAt(i))) openItem(batch, i)
      } else if (type === T_READY) {
        const item = s.items.get(batch.linkIDAt(i))
        if (item === undefined) continue
        const readyID = batch.readyIDAt(i)
        item.readyTs = batch.tsAt(i)
        item.readyID = readyID
        s.readies.set(readyID, item)
        item.readyThread = batch.threadAt(i)
        item.span.addEvent('ready', { 'nat.thread': item.readyThread, 'nat.ready_id': readyID }, toHrTime(item.readyTs))
      } else if (type === T_READY_FAILED) {
        const item = s.readies.get(batch.readyIDAt(i))
        if (item === undefined) continue
        s.readies.delete(item.readyID)
        item.readyID = 0
        item.span.addEvent('readyFailed', { 'nat.thread': batch.threadAt(i) }, toHrTime(batch.tsAt(i)))
      } else if (type === T_BEGIN) {
        const readyID = batch.readyIDAt(i)
        if (readyID === 0) continue
        const item = s.readies.get(readyID)
        if (item === undefined) continue
        s.readies.delete(readyID)
        item.readyID = 0
        const executeID = batch.executeIDAt(i)
        const thread = batch.threadAt(i)
        item.executeID = executeID
        item.beginTs = batch.tsAt(i)
        s.frames.set(executeID, item)
        item.execThread = thread
        item.span.addEvent('executionBegin', { 'nat.thread': thread, 'nat.execute_id': executeID }, toHrTime(item.beginTs))
      } else if (type === T_END) {
        const item = s.frames.get(batch.executeIDAt(i))
        if (item === undefined) continue
        s.frames.delete(item.executeID)
        const ts = batch.tsAt(i)
        item.span.addEvent('executionEnd', { 'nat.thread': batch.threadAt(i) }, toHrTime(ts))
        item.span.setAttributes(finalAttributes(item, ts))
        item.span.end(toHrTime(ts))
        s.items.delete(item.linkID)
        s.counts.ended++
      } else if (type === T_ABORT) {
        const linkID = batch.linkIDAt(i)
        const item = s.items.get(linkID)
        if (item === undefined) continue
        s.items.delete(linkID)
        forget(item)
        item.span.setStatus({ code: s.api.SpanStatusCode.ERROR, message: 'aborted: the work item never ran' })
        const attrs = finalAttributes(item, -1)
        attrs['nat.aborted'] = true
        item.span.setAttributes(attrs)
        item.span.end(toHrTime(batch.tsAt(i)))
        s.counts.aborted++
      } else if (type === EVENT_TYPES.lost) {
        s.counts.lost += batch.linkIDAt(i)
      }
    }
  }

  // Drains the bridge's consumer into spans. A batch whose records could
  // not be turned into spans (an exception from the SDK) is counted as the
  // consumer's loss, never dropped silently; the timer carries on.
  function pump (rethrow) {
    const s = state
    if (s === null) return
    const batch = s.consumer.drain()
    try {
      add(batch)
    } catch (err) {
      s.counts.failed++
      s.consumer.countLost(batch.length)
      if (rethrow) throw err
    }
  }

  /**
   * Starts the bridge: recording on (if it was off), the link hook, a
   * drain every `interval` ms (an unref'd timer), and a traceparent
   * provider for native threads (options.traceparent, default true; see
   * setLinkContext).
   */
  function enable (options) {
    validateObject(options, 'options')
    options = own(options) // own properties only (lib/options.js)
    for (const key of Object.keys(options)) {
      if (!OPTIONS.has(key)) {
        throw invalidArgValue(`options.${key}`, `is not an option (known: ${[...OPTIONS].join(', ')})`, options[key])
      }
    }
    const {
      tracerProvider, interval = DEFAULT_INTERVAL, requireParentSpan = true, traceparent = true,
      maxOpen = DEFAULT_MAX_OPEN, limit = DEFAULT_LIMIT
    } = options
    if (tracerProvider === null || typeof tracerProvider !== 'object' || typeof tracerProvider.getTracer !== 'function') {
      throw invalidArgType('options.tracerProvider', 'a TracerProvider (an object with getTracer())', tracerProvider)
    }
    validateInteger(interval, 'options.interval', 0, 2 ** 31 - 1)
    validateInteger(maxOpen, 'options.maxOpen', 1, 1e7)
    validateInteger(limit, 'options.limit', 1, 2 ** 32)
    if (typeof requireParentSpan !== 'boolean') throw invalidArgType('options.requireParentSpan', 'of type boolean', requireParentSpan)
    if (typeof traceparent !== 'boolean') throw invalidArgType('options.traceparent', 'of type boolean', traceparent)
    let api = options.api
    if (api === undefined) {
      try {
        api = require('@opentelemetry/api')
      } catch (err) {
        throw natError('NAT_EINVAL', 'nat.otel.enable() needs @opentelemetry/api: install it, or pass the module as options.api', err)
      }
    }
    if (api === null || typeof api !== 'object' || typeof api.trace?.getSpanContext !== 'function' ||
        typeof api.context?.active !== 'function') {
      throw invalidArgType('options.api', 'the @opentelemetry/api module', api)
    }
    if (state !== null) disable()
    const ownsRecording = !nat.isEnabled()
    // drain: false: the program's own drain() queue is not made for us.
    nat.enable({ drain: false })
    state = {
      api,
      tracer: tracerProvider.getTracer('napi-async-trace', nat.version),
      env: binding.envSerial(),
      offset: clockOffset(),
      requireParentSpan,
      maxOpen,
      ownsRecording,
      traceparent,
      captured: new Map(), // linkID -> context at link time
      items: new Map(), // linkID -> open item (its span)
      readies: new Map(), // readyID -> item
      frames: new Map(), // executeID -> item whose callback frame it is
      counts: { started: 0, ended: 0, aborted: 0, skipped: 0, evicted: 0, lost: 0, failed: 0 },
      consumer: nat.consumer({ name: 'otel', limit }),
      timer: null
    }
    linkHooks.add(onLink)
    if (traceparent) binding.setLinkContext(traceparentOf)
    if (interval > 0) {
      state.timer = setInterval(pump, interval, false)
      state.timer.unref()
    }
  }

  /**
   * Builds the spans of everything recorded so far (drains). Returns the
   * number of spans ended by this call. The provider's own processor then
   * exports them on its schedule (tracerProvider.forceFlush() to send now).
   */
  function flush () {
    if (state === null) return 0
    const before = state.counts.ended + state.counts.aborted
    pump(true)
    return state.counts.ended + state.counts.aborted - before
  }

  /**
   * Stops the bridge after a last flush. Items still open keep no span
   * (they are counted in stats().open before). Recording is switched off
   * when enable() switched it on.
   */
  function disable () {
    if (state === null) return
    flush()
    const s = state
    if (s.timer !== null) clearInterval(s.timer)
    linkHooks.delete(onLink)
    if (s.traceparent) binding.setLinkContext(null)
    s.consumer.close()
    state = null
    if (s.ownsRecording) nat.disable()
  }

  /** Counters: spans started, ended, aborted; items skipped (no parent
   * span), evicted (past maxOpen), open now; records lost by the engine. */
  function stats () {
    if (state === null) return { enabled: false }
    return { enabled: true, ...state.counts, open: state.items.size, linkContexts: state.captured.size }
  }

  return Object.freeze({ enable, disable, flush, stats, get enabled () { return state !== null } })
}

module.exports = { create }
