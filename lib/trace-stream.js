'use strict'
// The streaming trace format (docs/trace-format.md): what `record` writes
// while the program runs, readable up to the last complete chunk after any
// crash. Pure JS, no native addon: the read-only CLI commands load this,
// never lib/binding.js.
//
//   file   := MAGIC chunk*
//   MAGIC  := 89 4E 41 54 0D 0A 1A 0A          ("\x89NAT\r\n\x1a\n")
//   chunk  := header(16) payload(stored bytes)
//   header := u8 type, u8 flags, u16 reserved (0),
//             u32 stored (payload bytes in the file),
//             u32 raw (payload bytes once inflated; = stored when flags
//                  has no DEFLATE bit),
//             u32 crc32 of the stored payload
//   (all little-endian)
//
// Chunk types: META (JSON, first), SITES (JSON { first, names }), EVENTS
// (whole 48-byte engine records), STACKS (JSON { linkID: text }), END
// (JSON, last, only when the recording finished cleanly). Unknown types
// are skipped, so later versions can add chunks old readers ignore.
const fs = require('node:fs')
const zlib = require('node:zlib')
const { EventBatch, RECORD_SIZE } = require('./events')
const { natError } = require('./errors')

const MAGIC = Buffer.from([0x89, 0x4e, 0x41, 0x54, 0x0d, 0x0a, 0x1a, 0x0a])
const HEADER_SIZE = 16
const FORMAT = 'napi-async-trace-stream'
const FORMAT_VERSION = 1
const CHUNK = Object.freeze({ META: 1, SITES: 2, EVENTS: 3, STACKS: 4, END: 5 })
const FLAG_DEFLATE = 1
// The largest payload a reader accepts (a writer never makes more): a
// corrupt length must not make the reader allocate gigabytes.
const MAX_PAYLOAD = 64 << 20

// CRC-32 (IEEE), zlib.crc32 where Node has it (20.15+), else a table.
let crcTable = null
function crc32 (buf) {
  if (typeof zlib.crc32 === 'function') return zlib.crc32(buf) >>> 0
  if (crcTable === null) {
    crcTable = new Int32Array(256)
    for (let n = 0; n < 256; n++) {
      let c = n
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
      crcTable[n] = c
    }
  }
  let c = -1
  for (let i = 0; i < buf.length; i++) c = crcTable[(c ^ buf[i]) & 0xff] ^ (c >>> 8)
  return (c ^ -1) >>> 0
}

function traceError (code, message, cause) {
  return natError(code, message, cause)
}

/**
 * One chunk as the bytes to write. payload: a Buffer (or a JSON-able value
 * for META, SITES, STACKS, END). compress: deflate it when that makes it
 * smaller (the chunk says which).
 */
function encodeChunk (type, payload, { compress = false, level = 1 } = {}) {
  let raw = Buffer.isBuffer(payload) ? payload : Buffer.from(JSON.stringify(payload))
  if (raw.length > MAX_PAYLOAD) throw traceError('NAT_ERANGE', `a chunk of ${raw.length} bytes is over the format's ${MAX_PAYLOAD}`)
  let stored = raw
  let flags = 0
  if (compress && raw.length > 256) {
    const z = zlib.deflateRawSync(raw, { level })
    if (z.length < raw.length) {
      stored = z
      flags |= FLAG_DEFLATE
    }
  }
  const out = Buffer.allocUnsafe(HEADER_SIZE + stored.length)
  out.writeUInt8(type, 0)
  out.writeUInt8(flags, 1)
  out.writeUInt16LE(0, 2)
  out.writeUInt32LE(stored.length, 4)
  out.writeUInt32LE(raw.length, 8)
  out.writeUInt32LE(crc32(stored), 12)
  stored.copy(out, HEADER_SIZE)
  raw = null
  return out
}

/**
 * Reads a stream trace chunk by chunk (bounded memory: one chunk at a
 * time). Calls visit(type, payload Buffer) for each good chunk. Returns
 * { chunks, bytes, truncated } where truncated is null or { offset,
 * reason } when the file ends inside a chunk or a chunk fails its check
 * (what a crash or kill -9 leaves): everything before it was read.
 * Throws NAT_EBADTRACE when the file is not a stream trace.
 */
function readChunks (file, visit, { onProgress, only, onSkip } = {}) {
  let fd
  try {
    fd = fs.openSync(file, 'r')
  } catch (err) {
    throw traceError('NAT_EIO', `cannot read ${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`, err)
  }
  try {
    const size = fs.fstatSync(fd).size
    const head = Buffer.alloc(HEADER_SIZE)
    if (fs.readSync(fd, head, 0, MAGIC.length, 0) !== MAGIC.length || !head.subarray(0, MAGIC.length).equals(MAGIC)) {
      throw traceError('NAT_EBADTRACE', `${file} is not a napi-async-trace stream trace (no magic bytes)`)
    }
    let pos = MAGIC.length
    let chunks = 0
    let truncated = null
    let buf = Buffer.alloc(1 << 20)
    while (pos < size) {
      if (size - pos < HEADER_SIZE) {
        truncated = { offset: pos, reason: `the file ends inside a chunk header (${size - pos} of ${HEADER_SIZE} bytes)` }
        break
      }
      fs.readSync(fd, head, 0, HEADER_SIZE, pos)
      const type = head.readUInt8(0)
      const flags = head.readUInt8(1)
      const stored = head.readUInt32LE(4)
      const rawLength = head.readUInt32LE(8)
      const crc = head.readUInt32LE(12)
      if (stored > MAX_PAYLOAD || rawLength > MAX_PAYLOAD) {
        truncated = { offset: pos, reason: `a chunk header claims ${Math.max(stored, rawLength)} bytes (corrupt)` }
        break
      }
      if (pos + HEADER_SIZE + stored > size) {
        truncated = { offset: pos, reason: `the file ends inside a chunk (${size - pos - HEADER_SIZE} of ${stored} bytes)` }
        break
      }
      if (only !== undefined && !only.has(type)) {
        // Not wanted: skipped unread (its CRC is not checked).
        pos += HEADER_SIZE + stored
        chunks++
        if (onSkip) onSkip(type, rawLength)
        continue
      }
      if (buf.length < stored) buf = Buffer.alloc(Math.max(stored, buf.length * 2))
      fs.readSync(fd, buf, 0, stored, pos + HEADER_SIZE)
      const data = buf.subarray(0, stored)
      if (crc32(data) !== crc) {
        truncated = { offset: pos, reason: 'a chunk fails its CRC check (a write cut short, or corruption)' }
        break
      }
      let payload = data
      if (flags & FLAG_DEFLATE) {
        try {
          payload = zlib.inflateRawSync(data, { maxOutputLength: Math.max(rawLength, 1) })
        } catch (err) {
          truncated = { offset: pos, reason: `a chunk does not inflate (${err.message})` }
          break
        }
      }
      if (payload.length !== rawLength) {
        truncated = { offset: pos, reason: `a chunk inflates to ${payload.length} bytes, not ${rawLength}` }
        break
      }
      pos += HEADER_SIZE + stored
      chunks++
      visit(type, payload)
      if (onProgress) onProgress(pos, size)
    }
    return { chunks, bytes: pos, size, truncated }
  } finally {
    fs.closeSync(fd)
  }
}

function parseJSON (payload, what, file) {
  try {
    return JSON.parse(payload.toString('utf8'))
  } catch (err) {
    throw traceError('NAT_EBADTRACE', `${file}: its ${what} chunk is not JSON (${err.message})`, err)
  }
}

/**
 * Reads a stream trace, handing on its parts as they come, in file order:
 *   onMeta(meta), onEvents(EventBatch) (site names resolve through the
 *   file's own site table), onStacks(Map linkID -> text), onEnd(end).
 * Returns { meta, end, chunks, bytes, truncated, sites }.
 */
function readStream (file, { onMeta, onEvents, onStacks, onEnd, onProgress, only, onSkip } = {}) {
  const sites = [null]
  const siteName = (i) => (i < sites.length ? sites[i] : null)
  let meta = null
  let end = null
  const r = readChunks(file, (type, payload) => {
    switch (type) {
      case CHUNK.META: {
        meta = parseJSON(payload, 'META', file)
        if (meta === null || typeof meta !== 'object' || meta.format !== FORMAT) {
          throw traceError('NAT_EBADTRACE', `${file} has a META chunk that is not ${FORMAT}'s`)
        }
        if (typeof meta.formatVersion !== 'number' || meta.formatVersion > FORMAT_VERSION) {
          throw traceError('NAT_EVERSION', `${file} has format version ${meta.formatVersion}; this version reads up to ${FORMAT_VERSION}`)
        }
        if (onMeta) onMeta(meta)
        break
      }
      case CHUNK.SITES: {
        const s = parseJSON(payload, 'SITES', file)
        if (s === null || !Number.isInteger(s.first) || !Array.isArray(s.names)) {
          throw traceError('NAT_EBADTRACE', `${file}: a SITES chunk without first and names`)
        }
        for (let i = 0; i < s.names.length; i++) sites[s.first + i] = typeof s.names[i] === 'string' ? s.names[i] : null
        break
      }
      case CHUNK.EVENTS: {
        if (meta === null) throw traceError('NAT_EBADTRACE', `${file}: events before the META chunk`)
        if (payload.length % RECORD_SIZE !== 0) {
          throw traceError('NAT_EBADTRACE', `${file}: an EVENTS chunk of ${payload.length} bytes is not whole ${RECORD_SIZE}-byte records`)
        }
        // A copy the batch owns (the read buffer is reused); aligned for
        // the typed-array views.
        const ab = new ArrayBuffer(payload.length)
        new Uint8Array(ab).set(payload)
        if (onEvents) onEvents(new EventBatch(ab, siteName))
        break
      }
      case CHUNK.STACKS: {
        if (onStacks) {
          const obj = parseJSON(payload, 'STACKS', file)
          const m = new Map()
          if (obj !== null && typeof obj === 'object') {
            for (const [k, v] of Object.entries(obj)) {
              const id = Number(k)
              if (Number.isSafeInteger(id) && typeof v === 'string') m.set(id, v)
            }
          }
          onStacks(m)
        }
        break
      }
      case CHUNK.END:
        end = parseJSON(payload, 'END', file)
        if (onEnd) onEnd(end)
        break
      default:
        break // a chunk of a later version: skipped
    }
  }, { onProgress, only, onSkip })
  // A file with no chunk yet (cut right after it was created) reads as an
  // empty trace: meta is null.
  return { meta, end, chunks: r.chunks, bytes: r.bytes, size: r.size, truncated: r.truncated, sites }
}

/** True when the file starts with the stream format's magic bytes. */
function isStreamFile (file) {
  let fd
  try {
    fd = fs.openSync(file, 'r')
    const b = Buffer.alloc(MAGIC.length)
    return fs.readSync(fd, b, 0, MAGIC.length, 0) === MAGIC.length && b.equals(MAGIC)
  } catch {
    return false
  } finally {
    if (fd !== undefined) fs.closeSync(fd)
  }
}

/**
 * Writes a stream trace synchronously: open, then chunks as they come.
 * Every chunk is one write of whole bytes; a crash leaves at most one cut
 * chunk at the end, which readers skip. Used by the recorder's Worker and
 * by nat.writeTrace().
 */
class StreamWriter {
  constructor (file, meta, { compress = true, level = 1, fd } = {}) {
    this.file = file
    this.compress = compress
    this.level = level
    this.fd = fd !== undefined ? fd : fs.openSync(file, 'w')
    this.bytes = 0
    this.chunks = 0
    this.sitesWritten = 1 // index 0 is the empty site
    this._write(MAGIC)
    this.chunk(CHUNK.META, { format: FORMAT, formatVersion: FORMAT_VERSION, recordSize: RECORD_SIZE, ...meta })
  }

  _write (buf) {
    let off = 0
    while (off < buf.length) off += fs.writeSync(this.fd, buf, off, buf.length - off)
    this.bytes += buf.length
  }

  chunk (type, payload) {
    this._write(encodeChunk(type, payload, { compress: this.compress, level: this.level }))
    this.chunks++
  }

  /** Site names from index `sitesWritten` on (names: index -> name). */
  sites (names) {
    if (names.length > this.sitesWritten) {
      this.chunk(CHUNK.SITES, { first: this.sitesWritten, names: names.slice(this.sitesWritten) })
      this.sitesWritten = names.length
    }
  }

  /** Whole records (a Buffer or ArrayBuffer), split into chunks of at most 1 MiB raw. */
  events (records) {
    const buf = Buffer.isBuffer(records) ? records : Buffer.from(records)
    const step = Math.floor((1 << 20) / RECORD_SIZE) * RECORD_SIZE
    for (let off = 0; off < buf.length; off += step) this.chunk(CHUNK.EVENTS, buf.subarray(off, Math.min(off + step, buf.length)))
  }

  stacks (map) {
    if (map.size === 0) return
    const obj = {}
    for (const [k, v] of map) obj[k] = v
    this.chunk(CHUNK.STACKS, obj)
  }

  end (info) {
    this.chunk(CHUNK.END, info)
  }

  close () {
    if (this.fd !== null) {
      fs.closeSync(this.fd)
      this.fd = null
    }
  }
}

/**
 * The files of one recording: `file` itself and, when the recorded
 * program started other Node processes, the `<file>.d/*.nat` files they
 * wrote (lib/record.js), the first one first.
 */
function traceFiles (file) {
  const files = [file]
  const dir = `${file}.d`
  let names = []
  try {
    names = fs.readdirSync(dir).filter((n) => n.endsWith('.nat')).sort((a, b) => parseInt(a, 10) - parseInt(b, 10) || (a < b ? -1 : 1))
  } catch {}
  for (const n of names) files.push(require('node:path').join(dir, n))
  return files
}

module.exports = {
  traceFiles,
  MAGIC, HEADER_SIZE, FORMAT, FORMAT_VERSION, CHUNK, FLAG_DEFLATE, MAX_PAYLOAD,
  crc32, encodeChunk, readChunks, readStream, isStreamFile, StreamWriter
}
