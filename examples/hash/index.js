'use strict'
// examples/hash: SHA-256 of buffers on a small pool of native threads, an
// addon in C (hash.c, sha256.c) built against napi-async-trace's public
// header only. Each hash is one tracked task: linked in the frame that
// called hash(), made ready by the pool thread that computed the digest,
// delivered on the JS thread in its own frame and in the caller's async
// context (AsyncLocalStorage stores carry over).
//
//   const { createHasher, build } = require('./examples/hash')
//
//   const hasher = createHasher({ threads: 2, name: 'hash:sha256' })
//     options.threads  native pool threads, an integer 1..16 (default 2)
//     options.name     the site of every event, `module:kind`, 1..255 bytes
//                      (default 'hash:sha256')
//   hasher.hash(data, (err, hex) => {})
//     data: a Buffer, TypedArray or DataView (its bytes are hashed in
//     place: do not change or transfer them until the callback runs).
//     `hex` is the 64-character lowercase hex digest. Bad arguments throw
//     a TypeError with code NAT_EINVAL (a thread count out of range: a
//     RangeError, NAT_ERANGE); after close() it throws an Error with code
//     NAT_ECLOSING: the engine's codes (README, Errors).
//   await hasher.hashAsync(data)  -> Promise<string>, the hex digest; the
//     same errors as hash(), as a rejection
//   hasher.close()
//     takes no new hashes; the ones already accepted still call back, then
//     the queue is released and the threads are joined. Idempotent. An
//     idle hasher never keeps the process alive, closed or not; one with
//     hashes outstanding does, until they are delivered.
//   hasher.name, hasher.threads, hasher.closed
//   build({ force, stdio })  -> the addon's path
//     builds examples/hash/build/Release/hash.node with scripts/build.js
//     (offline, against the running Node's headers) when it is missing or
//     older than its sources or the public header. createHasher() calls it
//     on first use; call it yourself to build ahead of time or to see the
//     compiler's output (stdio: 'inherit').
//
// napi-async-trace is required before the addon loads: the addon's
// nat_import() finds the engine's API table only in a thread where the
// package was loaded. The package is resolved by its own name (a
// self-reference), which works anywhere inside the package.
const fs = require('node:fs')
const path = require('node:path')
const { spawnSync } = require('node:child_process')

const DEFAULT_NAME = 'hash:sha256'
const MAX_THREADS = 16
const addonPath = path.join(__dirname, 'build', 'Release', 'hash.node')
const pkgRoot = path.dirname(require.resolve('napi-async-trace/package.json'))

function build ({ force = false, stdio = 'pipe' } = {}) {
  const include = require('napi-async-trace/include')
  const inputs = ['binding.gyp', 'hash.c', 'sha256.c', 'sha256.h'].map((f) => path.join(__dirname, f))
    .concat(fs.readdirSync(include).filter((f) => f.endsWith('.h')).map((f) => path.join(include, f)))
  const built = fs.existsSync(addonPath) ? fs.statSync(addonPath).mtimeMs : 0
  if (!force && inputs.every((f) => fs.statSync(f).mtimeMs < built)) return addonPath
  const r = spawnSync(process.execPath, [path.join(pkgRoot, 'scripts', 'build.js'), '--dir', __dirname],
    { encoding: 'utf8', stdio })
  if (r.error) throw r.error
  if (r.status !== 0) {
    const err = new Error(`building examples/hash failed (exit ${r.status})` +
      (stdio === 'pipe' ? `:\n${r.stdout}\n${r.stderr}` : ''))
    err.code = 'NAT_ENOADDON'
    throw err
  }
  return addonPath
}

let binding = null
function load () {
  if (binding === null) {
    require('napi-async-trace') // first: publishes the table nat_import reads
    binding = require(build())
  }
  return binding
}

// Errors in the engine's vocabulary (README, Errors): bad arguments are
// NAT_EINVAL TypeErrors, a closed hasher NAT_ECLOSING.
function typeError (message) {
  const err = new TypeError(message)
  err.code = 'NAT_EINVAL'
  return err
}

function closedError (name) {
  const err = new Error(`the hasher "${name}" is closed`)
  err.code = 'NAT_ECLOSING'
  return err
}

// The bytes of data as a Uint8Array over the same memory (no copy).
function bytesOf (data) {
  if (data instanceof Uint8Array) return data // Buffers too
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  throw typeError('The "data" argument must be a Buffer, TypedArray or DataView')
}

class Hasher {
  #handle
  #name
  #threads
  #closed = false

  constructor (handle, name, threads) {
    this.#handle = handle
    this.#name = name
    this.#threads = threads
  }

  get name () { return this.#name }
  get threads () { return this.#threads }
  get closed () { return this.#closed }

  hash (data, callback) {
    const bytes = bytesOf(data)
    if (typeof callback !== 'function') throw typeError('The "callback" argument must be a function')
    if (this.#closed) throw closedError(this.#name)
    binding.hash(this.#handle, bytes, callback)
  }

  hashAsync (data) {
    return new Promise((resolve, reject) => {
      this.hash(data, (err, hex) => err ? reject(err) : resolve(hex))
    })
  }

  close () {
    if (this.#closed) return
    this.#closed = true
    binding.close(this.#handle)
  }

  // For tests: { outstanding, closing, released, joined, threads }.
  _state () {
    return binding.state(this.#handle)
  }
}

function createHasher (options = {}) {
  if (options === null || typeof options !== 'object') throw typeError('The "options" argument must be an object')
  const { threads = 2, name = DEFAULT_NAME } = options
  if (typeof threads !== 'number') throw typeError('The "options.threads" property must be a number')
  if (!Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS) {
    const err = new RangeError(`The "options.threads" property must be an integer from 1 to ${MAX_THREADS}. Received ${threads}`)
    err.code = 'NAT_ERANGE'
    throw err
  }
  if (typeof name !== 'string') throw typeError('The "options.name" property must be a string')
  const len = Buffer.byteLength(name)
  if (len < 1 || len > 255) throw typeError('The "options.name" property must be 1 to 255 bytes long')
  const b = load()
  return new Hasher(b.create(name, threads), name, threads)
}

module.exports = { createHasher, build, addonPath }
