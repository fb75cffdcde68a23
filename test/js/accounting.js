'use strict'
// Counting drained events for the overload, fault and drain-race tests
// (run inside their child processes, so only the summary crosses back).
//
// A Tally watches the IDs in (first, last]: the IDs handed out while the
// test's producers ran. Each link, ready and executionBegin carries a new
// ID of its own (linkID, readyID, executeID), so in a window where only the
// test records, every ID is one event: seen once when it was drained,
// never when it was dropped (and counted in a `lost` marker). executionEnd
// repeats its frame's ID and is counted on its own.
const FIELD = { link: 'linkIDAt', ready: 'readyIDAt', executionBegin: 'executeIDAt' }

class Tally {
  constructor ({ first, last, site }) {
    this.first = first
    this.size = last - first
    this.site = site
    this.seen = new Uint8Array(this.size)
    this.ends = new Uint8Array(this.size)
    this.events = { link: 0, ready: 0, executionBegin: 0, executionEnd: 0, abort: 0 }
    this.other = 0 // events of other sites, or outside the window
    this.lost = 0
    this.lostMarkers = 0
    this.lostByThread = {}
    this.batches = 0
    this.records = 0 // every record drained, lost markers excluded
    this.unordered = 0 // records older than the one before them in a batch
  }

  take (batch) {
    this.batches++
    let prevTs = 0
    for (let i = 0; i < batch.length; i++) {
      const ev = batch.eventAt(i)
      if (ev === 'lost') {
        const n = batch.linkIDAt(i)
        this.lost += n
        this.lostMarkers++
        const t = batch.threadAt(i)
        this.lostByThread[t] = (this.lostByThread[t] || 0) + n
        continue
      }
      this.records++
      const ts = batch.tsAt(i)
      if (ts < prevTs) this.unordered++
      prevTs = ts
      if (batch.siteAt(i) !== this.site) { this.other++; continue }
      this.events[ev] = (this.events[ev] || 0) + 1
      const id = (ev === 'executionEnd' ? batch.executeIDAt(i) : FIELD[ev] ? batch[FIELD[ev]](i) : 0) - this.first - 1
      if (id < 0 || id >= this.size) { this.other++; continue }
      const arr = ev === 'executionEnd' ? this.ends : this.seen
      if (arr[id] < 255) arr[id]++
    }
    return batch.length
  }

  // Drains until a drain comes back empty; returns the records taken.
  drainAll (nat) {
    let n = 0
    for (let got = this.take(nat.drain()); got > 0; got = this.take(nat.drain())) n += got
    return n
  }

  summary () {
    let once = 0; let twice = 0; let missing = 0; let endsTwice = 0
    for (let i = 0; i < this.size; i++) {
      const s = this.seen[i]
      if (s === 0) missing++
      else if (s === 1) once++
      else twice++
      if (this.ends[i] > 1) endsTwice++
    }
    const { events, other, lost, lostMarkers, lostByThread, batches, records, unordered } = this
    return { ids: this.size, once, twice, missing, endsTwice, events, other, lost, lostMarkers, lostByThread, batches, records, unordered }
  }
}

module.exports = { Tally }
