'use strict'
// Consumers of the event stream (src/napi/hub.c): every consumer sees every
// event drained from the engine after it was made, in any env. The
// program's drain(), each track()/assertNoPending(), the CLI recorder and
// the bridges each have their own, so none of them takes events from
// another. Each is bounded: past its limit the records that did not fit
// are counted (stats().lost) and reported as one `lost` event with
// `consumer: true` at its next drain.
//
// A consumer lives until close() or until it is garbage (its native queue
// is freed by the handle's finalizer), so a forgotten one costs nothing
// once nothing refers to it.
const { EventBatch } = require('./events')
const { validateInteger, validateObject, validateString } = require('./errors')

const DEFAULT_LIMIT = 1 << 20 // records (48 MB when full)
const MAX_LIMIT = 2 ** 32

class Consumer {
  constructor (binding, siteName, { name = 'consumer', limit = DEFAULT_LIMIT } = {}) {
    validateString(name, 'options.name')
    validateInteger(limit, 'options.limit', 1, MAX_LIMIT)
    this._binding = binding
    this._siteName = siteName
    this._handle = binding.subscribe(name.slice(0, 63), limit)
    this.name = name
  }

  /**
   * The events since the last drain of this consumer (at most options.max
   * records), as an EventBatch. Records this consumer could not keep come
   * as one `lost` event (consumer: true) with their count.
   */
  drain (options) {
    let max = 0
    if (options !== undefined) {
      validateObject(options, 'options')
      if (options.max !== undefined) max = validateInteger(options.max, 'options.max', 1, 0xffffffff)
    }
    const buffer = this._binding.consume(this._handle, max)
    try {
      return new EventBatch(buffer, this._siteName)
    } catch (err) {
      // Taken from the engine but not handed on: counted, never silent.
      this.countLost(buffer === null ? 0 : buffer.byteLength / 48)
      throw err
    }
  }

  /** Counts records this consumer took but could not use as its own loss. */
  countLost (n) {
    if (n > 0) this._binding.countLost(this._handle, n)
  }

  /** { name, env, queued, limit, delivered, lost, open } */
  stats () {
    return this._binding.consumerStats(this._handle)
  }

  /** Stops receiving events and frees the queue. Idempotent. */
  close () {
    this._binding.unsubscribe(this._handle)
  }
}

module.exports = { Consumer, DEFAULT_LIMIT, MAX_LIMIT }
