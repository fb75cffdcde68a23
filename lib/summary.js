'use strict'
// A streaming summary of a trace of any length in bounded memory: what the
// CLI's `stacks`, `folded` and the report's tables need, without holding
// every event (AsyncGraph does; it is for traces that fit in memory).
//
// Events are read once, in order. Only work in flight is held (links not
// yet ready, readies not yet run, frames not yet ended), each bounded by
// LIVE_LIMIT (past it the oldest are let go and counted). Finished frames
// leave only aggregates:
//   - per site: frames, and queue wait (link -> ready), dispatch wait
//     (ready -> executionBegin) and run (executionBegin -> executionEnd)
//     as count, total, max and a log-scale histogram (percentiles within
//     ~6%);
//   - an async stack tree: each frame's node is its requester's node plus
//     one step named by the frame's site and, where the link's JS stack is
//     known, the function and file:line that linked it; run time and
//     frame counts per node (what folded stacks and flame graphs draw),
//     bounded by NODE_LIMIT nodes (past it, steps fold into "(other)");
//   - the slowest frames (a bounded heap), with their stack paths.
// Pure JS: no native addon.
const { EVENT_TYPES: T } = require('./events')

const LIVE_LIMIT = 1 << 18
const NODE_LIMIT = 100_000
const SLOWEST = 50
const BUCKETS_PER_OCTAVE = 8
const NBUCKETS = 64 * BUCKETS_PER_OCTAVE

class Histogram {
  constructor () {
    this.count = 0
    this.total = 0
    this.max = 0
    this.buckets = null
  }

  add (v) {
    if (!(v >= 0)) return
    this.count++
    this.total += v
    if (v > this.max) this.max = v
    if (this.buckets === null) this.buckets = new Float64Array(NBUCKETS)
    const b = v < 1 ? 0 : Math.min(NBUCKETS - 1, Math.floor(Math.log2(v) * BUCKETS_PER_OCTAVE))
    this.buckets[b]++
  }

  // Nearest rank over buckets; a bucket reads as its geometric middle,
  // never above the exact max.
  quantile (q) {
    if (this.count === 0) return NaN
    const rank = Math.max(1, Math.ceil(q * this.count))
    let seen = 0
    for (let b = 0; b < NBUCKETS; b++) {
      seen += this.buckets[b]
      if (seen >= rank) return Math.min(this.max, b === 0 ? 0 : 2 ** ((b + 0.5) / BUCKETS_PER_OCTAVE))
    }
    return this.max
  }

  toJSON () {
    return {
      count: this.count,
      total: this.total,
      mean: this.count ? this.total / this.count : NaN,
      p50: this.quantile(0.5),
      p99: this.quantile(0.99),
      max: this.count ? this.max : NaN
    }
  }
}

// `at loadUser (/home/x/app/users.js:14:5)` -> `loadUser (users.js:14)`;
// the first frame of a link stack is the code that asked for the work.
function frameLabel (stackText) {
  if (typeof stackText !== 'string') return null
  const line = stackText.split('\n').find((l) => l.trim().startsWith('at ')) || ''
  let m = /at (?:async )?(.+?) \((.+?):(\d+):\d+\)$/.exec(line.trim())
  if (m) return `${m[1]} (${baseName(m[2])}:${m[3]})`
  m = /at (.+?):(\d+):\d+$/.exec(line.trim())
  if (m) return `<anonymous> (${baseName(m[1])}:${m[2]})`
  return null
}

function baseName (file) {
  const i = Math.max(file.lastIndexOf('/'), file.lastIndexOf('\\'))
  return i >= 0 ? file.slice(i + 1) : file
}

// Items in flight, bounded: two generations of Maps. New items go into
// the young one; when it holds half the limit, the old generation (items
// older than that, still unfinished) is let go in one piece and the young
// one becomes old. O(1) per operation: evicting the oldest key of one big
// Map one at a time is O(n) in V8 (iteration skips the holes deletes leave
// at its front until the table is rebuilt).
class Live {
  constructor (limit) {
    this.half = Math.max(1, limit >> 1)
    this.young = new Map()
    this.old = new Map()
  }

  get size () { return this.young.size + this.old.size }

  get (id) {
    const v = this.young.get(id)
    return v !== undefined ? v : this.old.get(id)
  }

  delete (id) {
    if (!this.young.delete(id)) this.old.delete(id)
  }

  // Returns how many items were let go to make room.
  set (id, value) {
    let evicted = 0
    if (this.young.size >= this.half) {
      evicted = this.old.size
      this.old = this.young
      this.young = new Map()
    }
    this.young.set(id, value)
    return evicted
  }

  * [Symbol.iterator] () {
    yield * this.old
    yield * this.young
  }
}

class Summary {
  constructor ({ stacks } = {}) {
    // linkID -> text, for the frames' labels; per process (see process()).
    this._stacks = stacks instanceof Map ? stacks : new Map()
    this.events = 0
    this.lost = 0
    this.consumerLost = 0
    this.firstTs = NaN
    this.lastTs = NaN
    this.processes = []
    this.liveEvicted = 0
    this.problems = 0
    this._sites = new Map() // name -> { frames, queue, dispatch, run }
    // The stack tree: node 0 is the root.
    this._nodeKey = new Map() // `${parent}\t${label}` -> node
    this._nodeParent = [-1]
    this._nodeLabel = ['root']
    this._nodeSelf = [0] // run ns of frames at this node
    this._nodeFrames = [0]
    this.nodesFolded = 0
    this._slowest = [] // min-heap by run
    this._pendingDone = [] // pending of processes added before (at most 1000 kept)
    this.pendingEarlier = 0 // and how many there were
    this.openEarlier = 0 // of them, frames
    this._pid = 0
    this.process(null)
  }

  /** Starts the events of another process (IDs are per process). */
  process (meta, stacks) {
    if (this._links !== undefined && (this._links.size || this._readies.size || this._frames.size)) {
      this.pendingEarlier += this._links.size + this._readies.size + this._frames.size
      this.openEarlier += this._frames.size
      for (const p of this._pendingOf(1000 - this._pendingDone.length)) this._pendingDone.push(p)
    }
    this._links = new Live(LIVE_LIMIT) // linkID -> [ts, node, label, site, frame, thread]
    this._readies = new Live(LIVE_LIMIT) // readyID -> [ts, linkTs, node, label, site, by, linkID, thread]
    this._frames = new Live(LIVE_LIMIT) // executeID -> [ts, node, site, thread, queue, dispatch, readyID]
    if (stacks instanceof Map) this._stacks = stacks
    if (meta) {
      this._pid = meta.pid || 0
      this.processes.push({ pid: meta.pid, ppid: meta.ppid, argv: meta.argv, root: meta.root })
    }
  }

  _site (name) {
    let s = this._sites.get(name)
    if (s === undefined) {
      s = { frames: 0, queue: new Histogram(), dispatch: new Histogram(), run: new Histogram() }
      this._sites.set(name, s)
    }
    return s
  }

  _node (parent, label) {
    const key = `${parent}\t${label}`
    let n = this._nodeKey.get(key)
    if (n !== undefined) return n
    if (this._nodeParent.length >= NODE_LIMIT) {
      this.nodesFolded++
      if (label === '(other)') return parent
      return this._node(parent, '(other)')
    }
    n = this._nodeParent.length
    this._nodeKey.set(key, n)
    this._nodeParent.push(parent)
    this._nodeLabel.push(label)
    this._nodeSelf.push(0)
    this._nodeFrames.push(0)
    return n
  }

  _live (map, id, value) {
    this.liveEvicted += map.set(id, value)
  }

  /** Adds an EventBatch. */
  add (b) {
    const n = b.length
    this.events += n
    for (let i = 0; i < n; i++) {
      const type = b.typeAt(i)
      const ts = b.tsAt(i)
      if (type !== T.lost) {
        if (!(ts >= this.firstTs)) this.firstTs = Number.isNaN(this.firstTs) ? ts : Math.min(this.firstTs, ts)
        if (!(ts <= this.lastTs)) this.lastTs = Number.isNaN(this.lastTs) ? ts : Math.max(this.lastTs, ts)
      }
      switch (type) {
        case T.link: {
          const exec = b.executeIDAt(i)
          const linkID = b.linkIDAt(i)
          const f = this._frames.get(exec)
          const site = b.siteAt(i) || '(no site)'
          const where = frameLabel(this._stacks.get(linkID))
          this._live(this._links, linkID, [ts, f === undefined ? 0 : f[1], where === null ? site : `${site} ${where}`, site, exec, b.threadAt(i)])
          break
        }
        case T.ready: {
          const linkID = b.linkIDAt(i)
          const l = this._links.get(linkID)
          if (l !== undefined) this._links.delete(linkID)
          const site = b.siteAt(i) || '(no site)'
          this._live(this._readies, b.readyIDAt(i), [ts, l === undefined ? NaN : l[0], l === undefined ? 0 : l[1], l === undefined ? site : l[2], site, b.executeIDAt(i), linkID, b.threadAt(i)])
          break
        }
        case T.readyFailed: {
          // The link stays live; the ready it made is void.
          this._readies.delete(b.readyIDAt(i))
          break
        }
        case T.executionBegin: {
          const readyID = b.readyIDAt(i)
          const exec = b.executeIDAt(i)
          if (exec === 0) break
          const r = this._readies.get(readyID)
          if (r !== undefined) this._readies.delete(readyID)
          const site = b.siteAt(i) || (r === undefined ? '(no site)' : r[4])
          const node = this._node(r === undefined ? 0 : r[2], r === undefined ? site : r[3])
          this._live(this._frames, exec, [ts, node, site, b.threadAt(i), r === undefined ? NaN : r[0] - r[1], r === undefined ? NaN : ts - r[0], readyID])
          break
        }
        case T.executionEnd: {
          const exec = b.executeIDAt(i)
          const f = this._frames.get(exec)
          if (f === undefined) break
          this._frames.delete(exec)
          const run = ts - f[0]
          const s = this._site(f[2])
          s.frames++
          s.run.add(run)
          s.queue.add(f[4])
          s.dispatch.add(f[5])
          this._nodeSelf[f[1]] += run
          this._nodeFrames[f[1]]++
          this._slow({ id: exec, pid: this._pid, site: f[2], thread: f[3], ts: f[0], run, queueWait: f[4], dispatchWait: f[5], node: f[1] })
          break
        }
        case T.abort: {
          this._links.delete(b.linkIDAt(i))
          const r = b.readyIDAt(i)
          if (r !== 0) this._readies.delete(r)
          break
        }
        case T.lost: {
          const count = b.linkIDAt(i)
          this.lost += count
          if (b.flagsAt(i) & 1) this.consumerLost += count
          break
        }
        default:
          this.problems++
      }
    }
  }

  _slow (f) {
    const h = this._slowest
    if (h.length < SLOWEST) {
      h.push(f)
      let k = h.length - 1
      while (k > 0) {
        const p = (k - 1) >> 1
        if (h[p].run <= h[k].run) break
        ;[h[p], h[k]] = [h[k], h[p]]
        k = p
      }
    } else if (f.run > h[0].run) {
      h[0] = f
      let k = 0
      for (;;) {
        const l = 2 * k + 1
        const r = l + 1
        let m = k
        if (l < h.length && h[l].run < h[m].run) m = l
        if (r < h.length && h[r].run < h[m].run) m = r
        if (m === k) break
        ;[h[m], h[k]] = [h[k], h[m]]
        k = m
      }
    }
  }

  /** The labels from the root to node, root first. */
  path (node) {
    const out = []
    for (let n = node; n > 0; n = this._nodeParent[n]) out.push(this._nodeLabel[n])
    out.push('root')
    return out.reverse()
  }

  /** Per-site totals, as AsyncGraph#sites() gives them. */
  sites () {
    const out = []
    for (const [site, s] of this._sites) {
      out.push({ site, frames: s.frames, queueWait: s.queue.toJSON(), dispatchWait: s.dispatch.toJSON(), run: s.run.toJSON() })
    }
    out.sort((a, b) => b.run.total - a.run.total)
    return out
  }

  /** The slowest frames (at most 50), slowest first, with their stack paths. */
  slowest (n = SLOWEST) {
    return [...this._slowest].sort((a, b) => b.run - a.run).slice(0, n)
      .map((f) => ({ ...f, path: this.path(f.node) }))
  }

  /**
   * Work still in flight at the end of the trace: links never made ready,
   * readies never run, frames never ended; at most `max` of them
   * (pendingCount counts them all).
   */
  pending (max = 1000) {
    const out = this._pendingDone.slice(0, max)
    return out.concat(this._pendingOf(max - out.length))
  }

  /** How many items are pending in all (pending() lists at most its max). */
  get pendingCount () {
    return this.pendingEarlier + this._links.size + this._readies.size + this._frames.size
  }

  _pendingOf (max = Infinity) {
    const out = []
    for (const [id, l] of this._links) {
      if (out.length >= max) return out
      out.push({ kind: 'link', id, site: l[3], label: l[2], ts: l[0], frame: l[4], thread: l[5], pid: this._pid, path: this.path(l[1]) })
    }
    for (const [id, r] of this._readies) {
      if (out.length >= max) return out
      out.push({ kind: 'ready', id, site: r[4], label: r[3], ts: r[0], readyBy: r[5], linkID: r[6], thread: r[7], pid: this._pid, path: this.path(r[2]) })
    }
    for (const [id, f] of this._frames) {
      if (out.length >= max) return out
      out.push({ kind: 'frame', id, site: f[2], ts: f[0], thread: f[3], pid: this._pid, path: this.path(f[1]) })
    }
    return out
  }

  /**
   * Folded stacks (flamegraph.pl, speedscope): one line per stack path,
   * weighted by the run time of the frames at its end, in microseconds
   * (rounded; paths under 1 µs in total are left out).
   */
  folded () {
    const lines = []
    for (let n = 1; n < this._nodeParent.length; n++) {
      const w = Math.round(this._nodeSelf[n] / 1000)
      if (w > 0) lines.push(`${this.path(n).map((l) => l.replace(/[;\n]/g, '_')).join(';')} ${w}`)
    }
    return lines.length ? `${lines.join('\n')}\n` : ''
  }

  get nodes () { return this._nodeParent.length }

  /** Frames begun and not ended (of every process added). */
  get openFrames () { return this._frames.size + this.openEarlier }
}

module.exports = { Summary, Histogram, frameLabel, LIVE_LIMIT, NODE_LIMIT }
