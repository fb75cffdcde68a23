'use strict'
// AsyncGraph: the events of one or more drains joined into the model's
// graph (DESIGN.md section 2). A link hangs off the frame that made it, a
// ready off its link, a frame off its ready; the async call stack of a frame
// walks frame -> ready -> link -> linking frame -> ... -> 0.
//
// Storage is columnar: one slot per ID (IDs are unique across the three
// kinds, they come from one counter), in growable typed arrays, plus one
// Map from ID to slot. About 70 bytes per slot, no object per event, so a
// graph of millions of events stays compact. Cross references (the ready of
// a link, the frame of a ready, the children of a frame) are built lazily
// by _index() and rebuilt after add().
//
// Input is trusted for nothing: every field is checked, malformed events
// throw (TypeError / RangeError with a code and the event's index), and
// events that are well-formed but inconsistent with each other (a duplicate
// ID, a ready of a later link, an end without a begin) are kept out of the
// graph and listed in graph.problems. Every walk follows strictly
// decreasing IDs, so no input can make it loop.
const { EventBatch, EVENT_TYPES: T } = require('./events')
const { walkStack } = require('./walk')
const { invalidArgType, invalidArgValue, outOfRange, validateInteger } = require('./errors')
const { own } = require('./options')

const KIND_LINK = 1
const KIND_READY = 2
const KIND_FRAME = 3
const KIND_NAMES = [undefined, 'link', 'ready', 'frame']

const FLAG_ABORTED = 1
const FLAG_ENDED = 2
const FLAG_FILE = 4 // added from a trace file: its link stacks are the file's

// A Map holds at most 2^24 entries in V8; the ID -> slot index is split
// over SHARDS of them (by the ID's low bits: IDs come from one counter, so
// the shards fill evenly). MAX_ITEMS bounds what maxItems may ask for.
const SHARDS = 8
// `id & SHARD_MASK`: exact for any integer ID up to 2^53 (ToInt32 keeps the
// low bits) and for the -1 key of _children().
const SHARD_MASK = SHARDS - 1
const MAX_ITEMS = 100e6
const DEFAULT_MAX_ITEMS = 64 * 1024 * 1024

class SlotIndex {
  constructor () {
    this._m = []
    for (let i = 0; i < SHARDS; i++) this._m.push(new Map())
  }

  get (id) { return this._m[id & SHARD_MASK].get(id) }
  has (id) { return this._m[id & SHARD_MASK].has(id) }
  set (id, slot) { this._m[id & SHARD_MASK].set(id, slot); return this }
  delete (id) { return this._m[id & SHARD_MASK].delete(id) }
  get size () {
    let n = 0
    for (const m of this._m) n += m.size
    return n
  }

  * [Symbol.iterator] () {
    for (const m of this._m) yield * m
  }
}

const MAX_PROBLEMS = 1000
const MAX_ID = Number.MAX_SAFE_INTEGER
const MAX_TS = 2n ** 63n - 1n // the largest monotonic timestamp (ns) taken

class AsyncGraph {
  /**
   * options.stacks: (linkID) => string | undefined, the JS stack captured
   * when the link was made (enable({ stacks: true })), or a Map of them.
   */
  constructor (options = {}) {
    if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options)
    options = own(options)
    this._stacks = null
    this.setStacks(options.stacks)
    this._fileStacks = new Map()
    this._addFlags = 0
    /** Most links + readies + frames the graph takes (see add()). */
    this.maxItems = options.maxItems === undefined
      ? DEFAULT_MAX_ITEMS
      : validateInteger(options.maxItems, 'options.maxItems', 1, MAX_ITEMS)
    this._slot = new SlotIndex()
    this._n = 0
    this._cap = 0
    this._grow(1024)
    this._sites = [null]
    this._siteIndex = new Map()
    this._ends = new SlotIndex() // executionEnd seen before its executionBegin: id -> ts
    this._aborts = [] // [linkID, readyID] not yet applied
    this._ix = null
    /** Events added, lost markers included. */
    this.events = 0
    /** Records the engine dropped, from lost markers. */
    this.lost = 0
    /** Inconsistencies found in the input; see problemCount for the total. */
    this.problems = []
    this.problemCount = 0
    /** Earliest and latest timestamps seen (NaN when none). */
    this.firstTs = NaN
    this.lastTs = NaN
  }

  setStacks (stacks) {
    if (stacks === undefined || stacks === null) this._stacks = null
    else if (typeof stacks === 'function') this._stacks = stacks
    else if (stacks instanceof Map) this._stacks = (id) => stacks.get(id)
    else throw invalidArgType('options.stacks', 'a function or a Map', stacks)
    return this
  }

  _grow (cap) {
    const old = this._cap
    const col = (Ctor, prev) => {
      const a = new Ctor(cap)
      if (prev) a.set(prev.subarray(0, old))
      return a
    }
    this._kind = col(Uint8Array, this._kind)
    this._flags = col(Uint8Array, this._flags)
    this._id = col(Float64Array, this._id)
    this._ts = col(Float64Array, this._ts)
    this._a = col(Float64Array, this._a) // link: frame; ready: link; frame: ready
    this._b = col(Float64Array, this._b) // ready: frame that readied; frame: end ts
    this._site = col(Uint32Array, this._site)
    this._thread = col(Uint32Array, this._thread)
    this._env = col(Uint32Array, this._env)
    this._cap = cap
  }

  _problem (index, message) {
    this.problemCount++
    if (this.problems.length < MAX_PROBLEMS) this.problems.push({ index, message })
  }

  _siteOf (name) {
    if (name === null || name === undefined || name === '') return 0
    let s = this._siteIndex.get(name)
    if (s === undefined) {
      s = this._sites.length
      this._sites.push(name)
      this._siteIndex.set(name, s)
    }
    return s
  }

  _newSlot (id, kind, ts, a, b, site, thread, env, index) {
    if (this._slot.has(id)) {
      this._problem(index, `ID ${id} appears twice (as ${KIND_NAMES[this._kind[this._slot.get(id)]]} and ${KIND_NAMES[kind]}); the second is ignored`)
      return -1
    }
    if (this._n === this._cap) this._grow(this._cap * 2)
    const s = this._n++
    this._slot.set(id, s)
    this._kind[s] = kind
    this._flags[s] = this._addFlags
    this._id[s] = id
    this._ts[s] = ts
    this._a[s] = a
    this._b[s] = b
    this._site[s] = site
    this._thread[s] = thread
    this._env[s] = env
    return s
  }

  // One event, fields already checked. `index` names it in problems.
  _add (type, executeID, linkID, readyID, ts, site, thread, env, index) {
    this.events++
    if (executeID > MAX_ID || linkID > MAX_ID || readyID > MAX_ID) {
      return this._problem(index, 'an ID beyond 2^53 (not from this engine)')
    }
    if (ts === ts) { // not NaN
      if (!(ts >= this.firstTs)) this.firstTs = ts
      if (!(ts <= this.lastTs)) this.lastTs = ts
    }
    switch (type) {
      case T.link:
        if (linkID === 0) return this._problem(index, 'a link with linkID 0')
        if (executeID >= linkID) return this._problem(index, `link ${linkID} made in frame ${executeID}, which is not older`)
        this._newSlot(linkID, KIND_LINK, ts, executeID, 0, site, thread, env, index)
        break
      case T.ready:
        if (readyID === 0 || linkID === 0) return this._problem(index, 'a ready with readyID or linkID 0')
        if (linkID >= readyID || executeID >= readyID) return this._problem(index, `ready ${readyID} of link ${linkID} in frame ${executeID}: IDs out of order`)
        this._newSlot(readyID, KIND_READY, ts, linkID, executeID, site, thread, env, index)
        break
      case T.executionBegin: {
        if (executeID === 0) return // the root frame: not a node of its own
        if (readyID >= executeID) return this._problem(index, `frame ${executeID} of ready ${readyID}: IDs out of order`)
        const s = this._newSlot(executeID, KIND_FRAME, ts, readyID, NaN, site, thread, env, index)
        if (s >= 0 && this._ends.size > 0 && this._ends.has(executeID)) {
          this._b[s] = this._ends.get(executeID)
          this._flags[s] |= FLAG_ENDED
          this._ends.delete(executeID)
        }
        break
      }
      case T.executionEnd: {
        if (executeID === 0) return
        const s = this._slot.get(executeID)
        if (s === undefined) {
          if (this._ends.has(executeID)) return this._problem(index, `frame ${executeID} ends twice`)
          this._ends.set(executeID, ts)
        } else if (this._kind[s] !== KIND_FRAME) {
          this._problem(index, `executionEnd of ${executeID}, which is a ${KIND_NAMES[this._kind[s]]}`)
        } else if (this._flags[s] & FLAG_ENDED) {
          this._problem(index, `frame ${executeID} ends twice`)
        } else {
          this._b[s] = ts
          this._flags[s] |= FLAG_ENDED
        }
        break
      }
      case T.lost:
        this.lost += linkID // the count travels in linkID
        break
      case T.abort:
        if (linkID === 0) return this._problem(index, 'an abort with linkID 0')
        this._aborts.push(linkID, readyID)
        break
      case T.readyFailed:
        // The ready did not take: only the ready is dead, the link lives.
        if (readyID === 0) return this._problem(index, 'a readyFailed with readyID 0')
        this._aborts.push(0, readyID)
        break
      default:
        this._problem(index, `unknown event type ${type}`)
    }
  }

  /**
   * Adds events: an EventBatch, an array (or iterable) of event objects as
   * drain() iterates them or toJSON() writes them (seed format), or an
   * object { events: [...] } (a trace file). Returns this.
   */
  add (events) {
    this._ix = null
    let fileStacks = null
    // What nat.readTrace() returns: { trace, stacks }.
    if (events !== null && typeof events === 'object' && !(events instanceof EventBatch) &&
        Object.hasOwn(events, 'trace') && !Object.hasOwn(events, 'events') &&
        events.trace !== null && typeof events.trace === 'object') {
      events = events.trace
    }
    if (events !== null && typeof events === 'object' && !(events instanceof EventBatch) &&
        typeof events[Symbol.iterator] !== 'function' && Object.hasOwn(events, 'events')) {
      // A trace file: its link stacks belong to its own link IDs (never
      // this process's stacks of the same IDs).
      fileStacks = fileStacksOf(events)
      events = events.events
    }
    if (events instanceof EventBatch) events = [events]
    // Drained batches, or the batches of a stream trace (readTraceFile).
    if (Array.isArray(events) && events.length > 0 && events.every((b) => b instanceof EventBatch)) {
      let fresh = 0
      let count = 0
      for (const b of events) {
        fresh += countNew(b)
        count += b.length
      }
      this._reserve(fresh, count)
      return this._withFlags(fileStacks, () => {
        for (const b of events) this._addBatch(b)
        return this
      })
    }
    if (events === null || typeof events !== 'object' || typeof events[Symbol.iterator] !== 'function') {
      throw invalidArgType('events', 'an EventBatch, an iterable of events or { events }', events)
    }
    // All or nothing: every event is checked, and the room for it, before
    // any is added.
    const list = Array.isArray(events) ? events : [...events]
    const checked = new Array(list.length)
    let fresh = 0
    for (let i = 0; i < list.length; i++) {
      const c = (checked[i] = this._checkObject(list[i], i))
      if (c[0] === T.link || c[0] === T.ready || c[0] === T.executionBegin || c[0] === T.executionEnd) fresh++
    }
    this._reserve(fresh, list.length)
    return this._withFlags(fileStacks, () => {
      for (let i = 0; i < checked.length; i++) {
        const c = checked[i]
        this._add(c[0], c[1], c[2], c[3], c[4], this._siteOf(c[5]), c[6], c[7], i)
      }
      return this
    })
  }

  // Fails up front, before anything is added, when `fresh` more links,
  // readies, frames (or ends waiting for their frame) would pass maxItems.
  _reserve (fresh, count) {
    if (this._n + this._ends.size + fresh > this.maxItems) {
      throw outOfRange('events', `at most ${this.maxItems} links, readies and frames in one graph (options.maxItems; ` +
        `this graph holds ${this._n}, the events add up to ${fresh} more); for larger traces use a streaming summary`, count)
    }
  }

  _withFlags (fileStacks, fn) {
    if (fileStacks === null) return fn()
    for (const [id, text] of fileStacks) this._fileStacks.set(id, text)
    this._addFlags = FLAG_FILE
    try {
      return fn()
    } finally {
      this._addFlags = 0
    }
  }

  _addBatch (b) {
    for (let i = 0; i < b.length; i++) {
      const type = b.typeAt(i)
      this._add(type, b.executeIDAt(i), b.linkIDAt(i), b.readyIDAt(i), b.tsAt(i),
        this._siteOf(b.siteAt(i)), b.threadAt(i), b.envAt(i), i)
    }
    return this
  }

  // The fields of event object e (the i-th), checked: [type, executeID,
  // linkID, readyID, ts, site, thread, env]. Throws on a malformed one.
  _checkObject (e, i) {
    if (e === null || typeof e !== 'object') throw invalidArgType(`events[${i}]`, 'an event object', e)
    e = own(e)
    const type = T[e.event]
    if (typeof e.event !== 'string' || type === undefined || !Object.hasOwn(T, e.event)) {
      throw invalidArgValue(`events[${i}].event`, `must be one of ${Object.keys(T).join(', ')}`, e.event)
    }
    const id = (name) => {
      const v = e[name]
      if (v === undefined) return 0
      return validateInteger(typeof v === 'bigint' ? Number(v) : v, `events[${i}].${name}`, 0, MAX_ID)
    }
    let ts = e.ts
    if (ts === undefined || ts === null) ts = NaN
    else if (typeof ts === 'bigint' && ts >= 0n) {
      // A monotonic clock in ns fits in 64 bits; beyond that (or beyond
      // what a Number holds, which turns into Infinity) it is no timestamp.
      if (ts > MAX_TS) throw outOfRange(`events[${i}].ts`, `<= ${MAX_TS} ns`, ts)
      ts = Number(ts)
    } else if (typeof ts !== 'number' || !Number.isFinite(ts) || ts < 0) {
      throw invalidArgValue(`events[${i}].ts`, 'must be a non-negative finite number of nanoseconds', ts)
    } else if (ts > Number(MAX_TS)) {
      throw outOfRange(`events[${i}].ts`, `<= ${MAX_TS} ns`, ts)
    }
    const small = (name) => {
      const v = e[name]
      return v === undefined ? 0 : validateInteger(v, `events[${i}].${name}`, 0, 0xffffffff)
    }
    const site = e.site
    if (site !== undefined && site !== null && typeof site !== 'string') {
      throw invalidArgType(`events[${i}].site`, 'a string or null', site)
    }
    let linkID = id('linkID')
    if (type === T.lost) {
      linkID = e.count === undefined ? 0 : validateInteger(e.count, `events[${i}].count`, 0, MAX_ID)
    }
    return [type, id('executeID'), linkID, id('readyID'), ts, site, small('thread'), small('env')]
  }

  // Cross references, built once per change: the first ready of each link,
  // the frame of each ready, the frames each frame caused (children).
  _index () {
    if (this._ix !== null) return this._ix
    const n = this._n
    const readyOf = new Float64Array(n).fill(-1) // link slot -> ready slot
    const frameOf = new Float64Array(n).fill(-1) // ready slot -> frame slot
    for (let i = 0; i < this._aborts.length; i += 2) {
      const l = this._aborts[i] === 0 ? undefined : this._slot.get(this._aborts[i])
      if (l !== undefined) this._flags[l] |= FLAG_ABORTED
      const r = this._aborts[i + 1] === 0 ? undefined : this._slot.get(this._aborts[i + 1])
      if (r !== undefined) this._flags[r] |= FLAG_ABORTED
    }
    // A link's ready is its first one that took (a failed one is aborted).
    for (let s = 0; s < n; s++) {
      const k = this._kind[s]
      if (k === KIND_READY) {
        const l = this._slot.get(this._a[s])
        if (l !== undefined && this._kind[l] === KIND_LINK && readyOf[l] < 0 &&
            !(this._flags[s] & FLAG_ABORTED)) readyOf[l] = s
      } else if (k === KIND_FRAME) {
        const r = this._slot.get(this._a[s])
        if (r !== undefined && this._kind[r] === KIND_READY && frameOf[r] < 0) frameOf[r] = s
      }
    }
    this._ix = { readyOf, frameOf, children: null }
    return this._ix
  }

  // The slots of frame slot `s`'s ready and of that ready's link, each -1
  // when it is not in the graph (the link is -1 whenever the ready is).
  _hops (s) {
    const r = this._slot.get(this._a[s])
    if (r === undefined || this._kind[r] !== KIND_READY) return [-1, -1]
    const l = this._slot.get(this._a[r])
    return [r, l !== undefined && this._kind[l] === KIND_LINK ? l : -1]
  }

  // The frame that linked the work frame slot `s` runs (0: the root), or -1
  // when the chain leaves the graph.
  _parentFrame (s) {
    const [r, l] = this._hops(s)
    if (r < 0) return this._a[s] === 0 ? 0 : -1
    return l < 0 ? -1 : this._a[l]
  }

  _children () {
    const ix = this._index()
    if (ix.children !== null) return ix.children
    const children = new SlotIndex() // parent -> [frame IDs]; -1: not in the graph
    for (let s = 0; s < this._n; s++) {
      if (this._kind[s] !== KIND_FRAME) continue
      const p = this._parentFrame(s)
      const key = p < 0 ? -1 : p
      let list = children.get(key)
      if (list === undefined) children.set(key, (list = []))
      list.push(this._id[s])
    }
    ix.children = children
    return children
  }

  // Sets o.chainStack and o.chainStackLinkID from the first link with a JS
  // stack found walking from slot s towards the root (a bounded walk).
  _chainStack (s, o) {
    if (this._stacks === null) return
    for (let hops = 0; hops < 64 && s !== undefined; hops++) {
      const k = this._kind[s]
      let frameID
      if (k === KIND_LINK) {
        const stack = this._stackOf(this._id[s])
        if (stack !== undefined) {
          o.chainStack = stack
          o.chainStackLinkID = this._id[s]
          return
        }
        frameID = this._a[s]
      } else if (k === KIND_READY) {
        s = this._slot.get(this._a[s])
        continue
      } else {
        const [r, l] = this._hops(s)
        if (r < 0 || l < 0) return
        s = l
        continue
      }
      if (frameID === 0) return
      s = this._slot.get(frameID)
      if (s !== undefined && this._kind[s] !== KIND_FRAME) return
    }
  }

  _stackOf (linkID) {
    const slot = this._slot.get(linkID)
    if (slot !== undefined && (this._flags[slot] & FLAG_FILE)) return this._fileStacks.get(linkID)
    if (this._stacks === null) return undefined
    const s = this._stacks(linkID)
    return typeof s === 'string' ? s : undefined
  }

  _common (s) {
    return {
      id: this._id[s],
      site: this._sites[this._site[s]],
      thread: this._thread[s],
      env: this._env[s],
      ts: this._ts[s]
    }
  }

  _frameObject (s) {
    const o = this._common(s)
    const end = this._flags[s] & FLAG_ENDED ? this._b[s] : NaN
    return {
      kind: 'frame',
      ...o,
      readyID: this._a[s],
      begin: o.ts,
      end,
      duration: end - o.ts
    }
  }

  _readyObject (s) {
    return { kind: 'ready', ...this._common(s), linkID: this._a[s], readyBy: this._b[s], aborted: (this._flags[s] & FLAG_ABORTED) !== 0 }
  }

  _linkObject (s) {
    const o = { kind: 'link', ...this._common(s), frame: this._a[s], aborted: (this._flags[s] & FLAG_ABORTED) !== 0 }
    const stack = this._stackOf(o.id)
    if (stack !== undefined) o.stack = stack
    return o
  }

  /** Number of links, readies and frames in the graph. */
  get size () { return this._n }

  /** The site names seen, by first appearance. */
  get siteNames () { return this._sites.slice(1) }

  /**
   * The async call stack of frame executeID, innermost first: the frame,
   * the ready that dispatched it, the link that requested it, the frame
   * that linked, ... down to the root (`{ kind: 'root', id: 0 }`). When the
   * chain leaves the graph (not drained, dropped, another process) it ends
   * with `{ kind: 'missing', id, expected }`.
   */
  stack (executeID) {
    validateInteger(executeID, 'executeID', 0, MAX_ID)
    this._index()
    return walkStack(this._walkSource(), executeID)
  }

  // The graph's nodes as lib/walk.js asks for them (the same walk runs in
  // the HTML report over its embedded data).
  _walkSource () {
    const of = (kind, make) => (id) => {
      const s = this._slot.get(id)
      return s !== undefined && this._kind[s] === kind ? make.call(this, s) : undefined
    }
    return { frame: of(KIND_FRAME, this._frameObject), ready: of(KIND_READY, this._readyObject), link: of(KIND_LINK, this._linkObject) }
  }

  /** The sites of stack(executeID)'s frames, innermost first ('root' last). */
  stackSites (executeID) {
    return this.stack(executeID).filter((s) => s.kind === 'frame' || s.kind === 'root')
      .map((s) => s.kind === 'root' ? 'root' : s.site)
  }

  /** stack(executeID) as text, one step per line. */
  formatStack (executeID) {
    return formatSteps(this.stack(executeID))
  }

  /**
   * What never finished: links never made ready (nor aborted), readies
   * never executed, frames never ended, oldest first. Each item has kind,
   * id, site, thread, env, ts, age (ns before options.now, default the
   * latest timestamp in the graph) and, for links made with stacks on, the
   * JS stack at link time. options.since drops items older than it (ns).
   * When the engine dropped records (graph.lost > 0), an item may be
   * pending only because its later events were lost.
   */
  pending (options = {}) {
    if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options)
    const now = options.now === undefined ? this.lastTs : options.now
    if (typeof now !== 'number') throw invalidArgType('options.now', 'of type number', now)
    if (options.now !== undefined && !Number.isFinite(now)) throw outOfRange('options.now', 'a finite number', now)
    const since = options.since === undefined ? -Infinity : options.since
    if (typeof since !== 'number') throw invalidArgType('options.since', 'of type number', since)
    if (Number.isNaN(since)) throw outOfRange('options.since', 'a number', since)
    const ix = this._index()
    const out = []
    for (let s = 0; s < this._n; s++) {
      if (this._ts[s] < since) continue
      const k = this._kind[s]
      let o = null
      if (k === KIND_LINK) {
        if (ix.readyOf[s] < 0 && !(this._flags[s] & FLAG_ABORTED)) o = this._linkObject(s)
      } else if (k === KIND_READY) {
        if (ix.frameOf[s] < 0 && !(this._flags[s] & FLAG_ABORTED)) {
          o = this._readyObject(s)
          const l = this._slot.get(o.linkID)
          if (l !== undefined) {
            const stack = this._stackOf(o.linkID)
            if (stack !== undefined) o.stack = stack
            o.linkFrame = this._a[l]
          }
        }
      } else if (!(this._flags[s] & FLAG_ENDED)) {
        o = this._frameObject(s)
      }
      if (o !== null) {
        // Work that native code linked on its own thread (the completion
        // of an async work run, linked inside its pool frame) has no JS
        // stack of its own: chainStack is the nearest one up its chain, the
        // JS call that started it (chainStackLinkID says which link it was).
        if (o.stack === undefined) this._chainStack(s, o)
        o.age = now - o.ts
        out.push(o)
      }
    }
    out.sort((x, y) => x.ts - y.ts || x.id - y.id)
    return out
  }

  /** Links and readies reported aborted (their queue went away). */
  aborted () {
    this._index()
    const out = []
    for (let s = 0; s < this._n; s++) {
      if (!(this._flags[s] & FLAG_ABORTED)) continue
      out.push(this._kind[s] === KIND_LINK ? this._linkObject(s) : this._readyObject(s))
    }
    return out
  }

  /** Every frame (executionBegin), in the order added. */
  frames () {
    const out = []
    for (let s = 0; s < this._n; s++) if (this._kind[s] === KIND_FRAME) out.push(this._frameObject(s))
    return out
  }

  /** The frame executeID (or null). */
  frame (executeID) {
    const s = this._slot.get(executeID)
    return s !== undefined && this._kind[s] === KIND_FRAME ? this._frameObject(s) : null
  }

  /** Whatever ID is: a link, ready or frame object, or null. */
  node (id) {
    const s = this._slot.get(id)
    if (s === undefined) return null
    const k = this._kind[s]
    return k === KIND_LINK ? this._linkObject(s) : k === KIND_READY ? this._readyObject(s) : this._frameObject(s)
  }

  /** The frame that requested the work of frame executeID (0: root; null: unknown). */
  parent (executeID) {
    const s = this._slot.get(executeID)
    if (s === undefined || this._kind[s] !== KIND_FRAME) return null
    const p = this._parentFrame(s)
    return p < 0 ? null : p
  }

  /** The executeIDs of the frames whose work frame id requested (0: the root). */
  children (id) {
    validateInteger(id, 'id', 0, MAX_ID)
    return (this._children().get(id) || []).slice()
  }

  /**
   * Frames at the top of a chain: requested from the root (0) or from a
   * frame that is not in the graph.
   */
  get roots () {
    const c = this._children()
    const out = []
    for (const [parent, list] of c) {
      // One push per item: spreading a list of 100k+ roots into push()
      // overflows the call stack.
      const s = parent <= 0 ? undefined : this._slot.get(parent)
      if (parent <= 0 || s === undefined || this._kind[s] !== KIND_FRAME) { // requester not in the graph
        for (let i = 0; i < list.length; i++) out.push(list[i])
      }
    }
    return out.sort((a, b) => a - b)
  }

  /**
   * Per-site totals over frames, by site: frames, and for queue wait
   * (link -> ready), dispatch wait (ready -> executionBegin) and run time
   * (executionBegin -> executionEnd), each { count, total, mean, p50, p99,
   * max } in nanoseconds. Sorted by total run time, largest first.
   */
  sites () {
    const per = new Map()
    for (let s = 0; s < this._n; s++) {
      if (this._kind[s] !== KIND_FRAME) continue
      let acc = per.get(this._site[s])
      if (acc === undefined) per.set(this._site[s], (acc = { frames: 0, queue: [], dispatch: [], run: [] }))
      acc.frames++
      const begin = this._ts[s]
      if (this._flags[s] & FLAG_ENDED) pushFinite(acc.run, this._b[s] - begin)
      const [r, l] = this._hops(s)
      if (r < 0) continue
      pushFinite(acc.dispatch, begin - this._ts[r])
      if (l >= 0) pushFinite(acc.queue, this._ts[r] - this._ts[l])
    }
    const out = []
    for (const [site, acc] of per) {
      out.push({
        site: this._sites[site],
        frames: acc.frames,
        queueWait: summary(acc.queue),
        dispatchWait: summary(acc.dispatch),
        run: summary(acc.run)
      })
    }
    out.sort((a, b) => b.run.total - a.run.total)
    return out
  }
}

function pushFinite (list, v) {
  if (Number.isFinite(v)) list.push(v)
}

// Nearest-rank percentiles.
function summary (values) {
  const n = values.length
  if (n === 0) return { count: 0, total: 0, mean: NaN, p50: NaN, p99: NaN, max: NaN }
  const v = Float64Array.from(values).sort()
  let total = 0
  for (let i = 0; i < n; i++) total += v[i]
  const rank = (p) => v[Math.max(0, Math.ceil(p * n) - 1)]
  return { count: n, total, mean: total / n, p50: rank(0.5), p99: rank(0.99), max: v[n - 1] }
}

function ms (ns) {
  return Number.isFinite(ns) ? `${(ns / 1e6).toFixed(3)} ms` : '?'
}

// How many events of batch b may add a link, ready, frame or waiting end.
function countNew (b) {
  let n = 0
  for (let i = 0; i < b.length; i++) {
    const t = b.typeAt(i)
    if (t === T.link || t === T.ready || t === T.executionBegin || t === T.executionEnd) n++
  }
  return n
}

// The link stacks of a trace file object ({ stacks: { "<linkID>": text } }),
// as a Map; non-string entries and bad IDs are refused with a coded error.
function fileStacksOf (trace) {
  const out = new Map()
  if (!Object.hasOwn(trace, 'stacks') || trace.stacks === undefined || trace.stacks === null) return out
  const stacks = trace.stacks
  if (typeof stacks !== 'object' || Array.isArray(stacks)) throw invalidArgType('trace.stacks', 'an object of linkID -> stack text', stacks)
  for (const key of Object.keys(stacks)) {
    const id = Number(key)
    if (!Number.isSafeInteger(id) || id <= 0) throw invalidArgValue('trace.stacks', `has a key that is no linkID (${key})`, key)
    const text = stacks[key]
    if (typeof text !== 'string') throw invalidArgType(`trace.stacks[${key}]`, 'of type string', text)
    out.set(id, text)
  }
  return out
}

// Checks what formatStack()/formatPending() are given: an iterable of
// objects, whose `stack` (when present) is text. Returns it as an array.
function checkItems (items, name) {
  if (items === null || typeof items !== 'object' || typeof items[Symbol.iterator] !== 'function') {
    throw invalidArgType(name, 'an array of objects', items)
  }
  const list = [...items]
  for (let i = 0; i < list.length; i++) {
    const it = list[i]
    if (it === null || typeof it !== 'object') throw invalidArgType(`${name}[${i}]`, 'an object', it)
    if (it.stack !== undefined && it.stack !== null && typeof it.stack !== 'string') {
      throw invalidArgType(`${name}[${i}].stack`, 'of type string', it.stack)
    }
  }
  return list
}

function formatSteps (steps) {
  const lines = []
  let prevTs = NaN
  for (const s of checkItems(steps, 'steps')) {
    switch (s.kind) {
      case 'frame':
        lines.push(`frame ${s.id}  ${s.site || '(no site)'}  thread ${s.thread} env ${s.env}` +
          (Number.isFinite(s.duration) ? `  ran ${ms(s.duration)}` : '  (not ended)'))
        break
      case 'ready':
        lines.push(`  <- ready ${s.id} by frame ${s.readyBy} on thread ${s.thread}` +
          (Number.isFinite(prevTs) ? `, ${ms(prevTs - s.ts)} before` : ''))
        break
      case 'link':
        lines.push(`  <- link ${s.id} in frame ${s.frame} on thread ${s.thread}` +
          (Number.isFinite(prevTs) ? `, ${ms(prevTs - s.ts)} before` : ''))
        if (s.stack) for (const l of s.stack.split('\n')) lines.push(`       ${l.trim()}`)
        break
      case 'root':
        lines.push('root (frame 0)')
        break
      case 'missing':
        lines.push(`(${s.expected} ${s.id} is not in the graph)`)
        break
    }
    if (Number.isFinite(s.ts)) prevTs = s.ts
  }
  return lines.join('\n')
}

/** A new AsyncGraph of `events` (see AsyncGraph#add). */
function graph (events, options) {
  const g = new AsyncGraph(options)
  if (events !== undefined) g.add(events)
  return g
}

module.exports = { AsyncGraph, graph, formatSteps, checkItems }

// The exporters (lib/export.js) as methods, as DESIGN.md names them.
const exporters = require('./export')
AsyncGraph.prototype.toChromeTrace = function toChromeTrace (options) { return exporters.toChromeTrace(this, options) }
AsyncGraph.prototype.toFolded = function toFolded (options) { return exporters.toFolded(this, options) }
AsyncGraph.prototype.toDot = function toDot (options) { return exporters.toDot(this, options) }
