#!/usr/bin/env node
'use strict'
// Writes a small seed corpus for fuzz_core into the directory given:
// programs that reach each operation (see LLVMFuzzerTestOneInput), so the
// fuzzer starts from inputs that fill rings, spawn threads, drain with a
// max, fail an allocation, intern sites and reset. Written at run time so
// no binary files are committed.
const fs = require('node:fs')
const path = require('node:path')

const dir = process.argv[2]
if (!dir) throw new Error('usage: seeds.js DIR')
fs.mkdirSync(dir, { recursive: true })

const EMIT = 0; const THREAD = 2; const DRAIN = 3; const FAILDRAIN = 5; const CAP = 6; const OFF = 7
const SITE = 8; const LOOKUP = 9; const MISC = 10; const RESET = 11
const u16 = (n) => [(n >> 8) & 255, n & 255]
const name = (s) => [...u16(Buffer.byteLength(s)), ...Buffer.from(s)]

const seeds = {
  fill: [EMIT, 40, DRAIN, ...u16(0)],
  overflow: [EMIT, 63, EMIT, 63, DRAIN, ...u16(5), DRAIN, ...u16(0)],
  threads: [THREAD, ...u16(300), EMIT, 10, THREAD, ...u16(20), DRAIN, ...u16(7), THREAD, ...u16(5), DRAIN, ...u16(0)],
  capacity: [CAP, ...u16(100), THREAD, ...u16(200), CAP, ...u16(17), EMIT, 50, DRAIN, ...u16(0), THREAD, ...u16(30)],
  faildrain: [EMIT, 20, FAILDRAIN, DRAIN, ...u16(3), FAILDRAIN, DRAIN, ...u16(0)],
  onoff: [EMIT, 5, OFF, EMIT, 5, CAP, ...u16(0), EMIT, 5, DRAIN, ...u16(0)],
  sites: [SITE, ...name('mydb:query'), SITE, ...name('mydb:query'), SITE, ...name('x'.repeat(255)),
    SITE, ...name('y'.repeat(256)), SITE, ...name('a\0b'), SITE, ...name(''), LOOKUP, ...u16(1), ...u16(300),
    LOOKUP, ...u16(3), ...u16(4)],
  limit: [MISC, 0, 1, THREAD, ...u16(50), DRAIN, ...u16(0), THREAD, ...u16(10), MISC, 0, 0, THREAD, ...u16(10)],
  clamp: [MISC, 1, EMIT, 3, MISC, 2],
  reset: [EMIT, 30, THREAD, ...u16(40), RESET, 0, EMIT, 5, DRAIN, ...u16(2)]
}
for (const [n, bytes] of Object.entries(seeds)) fs.writeFileSync(path.join(dir, n), Buffer.from(bytes))
console.log(`wrote ${Object.keys(seeds).length} seeds to ${dir}`)
