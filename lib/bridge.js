'use strict'
// The JS resource bridge (enable({ js: true })): JS async resources
// recorded through async_hooks in the engine's own model, on the same frame
// stack as native dispatch, so one chain runs from a timer through a native
// task into promise continuations.
//
//   init                      -> link in the current frame (site js:<type>)
//   promise: parent resolves  -> ready of each continuation waiting on it
//   others:  before           -> ready (by the loop, frame 0) when not yet
//   before / after            -> executionBegin / executionEnd
//   destroy before any run    -> abort (a cleared timer, a closed handle)
//
// A promise is a link only when it is a continuation: made by then() or
// await on another promise (its trigger is not the running resource).
// `new Promise()` and an async function's own promise attach nothing.
//
// Filtered out, as Jest and Bubbleprof do: resources the bridge or the
// engine make themselves (created while a hook runs, or typed with a site
// of a tracked native queue, which the engine records natively), types in
// the ignore list, and ticks Node schedules from its own internals (a
// TickObject created with no user frame on the stack).
//
// Everything here runs on the JS thread of one env; each env (Worker) has
// its own bridge. Costs: one native call per hook, plus a short stack walk
// per TickObject; async_hooks itself (with a destroy hook, which makes V8
// track promises) is the larger part. Off by default.
const { createHook, executionAsyncId } = require('node:async_hooks')
const path = require('node:path')

const LIB_DIR = path.join(__dirname, path.sep)

// Non-zero while the engine makes async resources of its own from JS
// (through quietly(); the native dispatch makes none from JS since it
// stopped taking AsyncLocalStorage snapshots): the bridge records none.
const engineWork = { depth: 0 }

// fn wrapped so that what it creates is invisible to every bridge.
function quietly (fn) {
  return function quiet (...args) {
    engineWork.depth++
    try {
      return fn.apply(this, args)
    } finally {
      engineWork.depth--
    }
  }
}
const DEFAULT_IGNORE = ['TIMERWRAP', 'ELDHISTOGRAM', 'PerformanceObserver']

class Bridge {
  constructor (binding, options) {
    this._b = binding
    this._ignore = new Set(options.ignore || DEFAULT_IGNORE)
    this._siteOf = new Map() // type -> site index
    this._nativeSites = new Set() // names of sites the engine made natively
    this._nativeSeen = 1
    this._links = new Map() // asyncId -> { site, linkID, ready, ran, promise }
    this._waiting = new Map() // promise asyncId -> [continuation asyncIds]
    this._open = [] // the bridge frames now open, innermost last: asyncId, executeID pairs
    this._busy = false
    this._closing = false
    this.errors = 0
    this.filtered = 0
    this._hook = createHook({
      init: (id, type, trigger, resource) => this._init(id, type, trigger, resource),
      before: (id) => this._before(id),
      after: (id) => this._after(id),
      destroy: (id) => this._destroy(id),
      promiseResolve: (id) => this._promiseResolve(id)
    })
  }

  enable () {
    this._closing = false
    this._hook.enable()
  }

  // Changes the ignore list of a running bridge (nothing in flight is lost).
  setIgnore (ignore) {
    this._ignore = new Set(ignore || DEFAULT_IGNORE)
  }

  // Maps of resources in flight (for tests: they must not grow without bound).
  get sizes () {
    return { links: this._links.size, waiting: this._waiting.size }
  }

  // Stops recording new resources; the hook stays on until the frames it
  // opened have ended (an `after` still to come), so the frame stack
  // stays balanced.
  disable () {
    this._closing = true
    this._links.clear()
    this._waiting.clear()
    if (this._open.length === 0) this._hook.disable()
  }

  get active () { return !this._closing }

  _site (type) {
    let s = this._siteOf.get(type)
    if (s === undefined) {
      s = this._b.site(`js:${type}`.slice(0, 255))
      this._siteOf.set(type, s)
    }
    return s
  }

  // A type that is the name of a site made natively (a tracked queue's or
  // work's per-task resource): the engine records it itself.
  _isNative (type) {
    if (type.indexOf(':') < 0) return false
    if (this._nativeSites.has(type)) return true
    const more = this._b.sites(this._nativeSeen)
    this._nativeSeen += more.length
    for (const name of more) if (!name.startsWith('js:')) this._nativeSites.add(name)
    return this._nativeSites.has(type)
  }

  // True when the stack that creates a tick holds no frame outside Node's
  // internals and this library.
  _internalTick () {
    const prev = Error.prepareStackTrace
    const prevLimit = Error.stackTraceLimit
    let sites
    try {
      Error.prepareStackTrace = (_, callsites) => callsites
      Error.stackTraceLimit = 16
      const holder = {}
      Error.captureStackTrace(holder)
      sites = holder.stack
    } finally {
      Error.prepareStackTrace = prev
      Error.stackTraceLimit = prevLimit
    }
    if (!Array.isArray(sites)) return false
    for (const cs of sites) {
      const file = cs.getFileName()
      if (file && !file.startsWith('node:') && !file.startsWith(LIB_DIR) && file !== 'internal') return false
    }
    return true
  }

  _init (id, type, trigger) {
    if (this._busy || this._closing || engineWork.depth > 0) return
    this._busy = true
    try {
      if (this._ignore.has(type)) {
        this.filtered++
        return
      }
      let promise = false
      if (type === 'PROMISE') {
        if (trigger === executionAsyncId()) return // not a continuation
        promise = true
      } else if (this._isNative(type) || (type === 'TickObject' && this._internalTick())) {
        this.filtered++
        return
      }
      const site = this._site(type)
      const linkID = this._b.link(site)
      if (linkID === 0) return // recording is off
      // A continuation waits on its parent promise (trigger) until that
      // resolves, or until it runs (the parent had resolved already).
      this._links.set(id, { site, linkID, ready: 0, ran: false, promise, trigger: promise ? trigger : 0 })
      if (promise) {
        const list = this._waiting.get(trigger)
        if (list === undefined) this._waiting.set(trigger, [id])
        else list.push(id)
      }
    } catch {
      this.errors++
    } finally {
      this._busy = false
    }
  }

  _promiseResolve (id) {
    if (this._busy) return
    const list = this._waiting.get(id)
    if (list === undefined) return
    this._busy = true
    try {
      this._waiting.delete(id)
      for (const child of list) {
        const l = this._links.get(child)
        if (l !== undefined && l.ready === 0) l.ready = this._b.ready(l.site, l.linkID)
      }
    } catch {
      this.errors++
    } finally {
      this._busy = false
    }
  }

  _before (id) {
    if (this._busy) return
    const l = this._links.get(id)
    if (l === undefined) return
    this._busy = true
    try {
      // Not readied by a resolve we saw (a timer firing, I/O completing, a
      // then() on a promise already resolved): the loop made it ready.
      // Repeating resources (intervals, sockets) get one ready per run.
      if (l.ready === 0 || l.ran) l.ready = this._b.ready(l.site, l.linkID)
      if (l.promise && !l.ran) this._unwait(l.trigger, id)
      l.ran = true
      const executeID = this._b.begin(l.site, l.ready)
      this._open.push(id, executeID)
    } catch {
      this.errors++
    } finally {
      this._busy = false
    }
  }

  // Takes continuation `id` off the list of its parent promise.
  _unwait (parent, id) {
    const list = this._waiting.get(parent)
    if (list === undefined) return
    const k = list.indexOf(id)
    if (k >= 0) list.splice(k, 1)
    if (list.length === 0) this._waiting.delete(parent)
  }

  _after (id) {
    const n = this._open.length
    if (n === 0 || this._open[n - 2] !== id) return
    const executeID = this._open[n - 1]
    this._open.length = n - 2
    try {
      this._b.end(executeID)
    } catch {
      // The callback left frames open above ours (marks.begin without
      // end): close them with it, or everything after would nest there.
      this.errors++
      try {
        const open = this._b.openFrames()
        const k = open.lastIndexOf(executeID)
        for (let i = open.length - 1; k >= 0 && i >= k; i--) this._b.end(open[i])
      } catch {}
    }
    const l = this._links.get(id)
    if (l !== undefined && l.promise) this._links.delete(id) // runs once
    if (this._closing && this._open.length === 0) this._hook.disable()
  }

  _destroy (id) {
    this._waiting.delete(id) // its continuations will never be readied by it
    const l = this._links.get(id)
    if (l === undefined) return
    this._links.delete(id)
    if (l.promise && !l.ran) this._unwait(l.trigger, id)
    // A continuation of a promise that never resolved stays pending.
    if (l.promise || l.ran || l.ready !== 0 || this._busy) return
    this._busy = true
    try {
      this._b.abort(l.site, l.linkID)
    } catch {
      this.errors++
    } finally {
      this._busy = false
    }
  }
}

module.exports = { Bridge, DEFAULT_IGNORE, quietly, LIB_DIR }
