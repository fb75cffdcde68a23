#!/usr/bin/env node
'use strict'
// What Node-API itself costs for a per-run async context, the thing zero-
// code tracing adds to each async work run (bench/napi-cost/cost.c):
//
//   node bench/napi-cost.js [--n 200000] [--rounds 5]
//
// Rows: a handle scope and a type string (the floor); + napi_async_init and
// napi_async_destroy; + napi_open/close_callback_scope around nothing (how
// the wrappers enter the context on Node 20 and 22); + napi_make_callback of
// an empty native function (Node 24+). Median and min..max of ns per
// iteration over interleaved rounds in one process. Compare with the plain
// cost of one item of a workload (bench/addons.js) to see the share that a
// per-run context takes before anything of this package runs.
const path = require('node:path')
const { spawnSync } = require('node:child_process')

const root = path.join(__dirname, '..')
const dir = path.join(__dirname, 'napi-cost')
const args = process.argv.slice(2)
const arg = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? Number(args[i + 1]) : dflt }
const N = arg('--n', 200000)
const ROUNDS = arg('--rounds', 5)

const b = spawnSync(process.execPath, [path.join(root, 'scripts', 'build.js'), '--dir', dir], { encoding: 'utf8' })
if (b.status !== 0) throw new Error(`building bench/napi-cost failed:\n${b.stdout}\n${b.stderr}`)
const cost = require(path.join(dir, 'build', 'Release', 'napi_cost.node'))

const MODES = ['handle scope + type string', '+ napi_async_init/destroy', '+ open/close callback scope', '+ napi_make_callback (empty native fn)']
const res = MODES.map(() => [])
cost.run(3, N) // warm-up
for (let r = 0; r < ROUNDS; r++) {
  for (let k = 0; k < MODES.length; k++) {
    const m = (k + r) % MODES.length
    res[m].push(cost.run(m, N))
  }
}
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const h = s.length >> 1; return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2 }
console.log(`Node-API context cost, Node ${process.version}, ${N} iterations x ${ROUNDS} rounds (ns per iteration, median and min..max)`)
for (let m = 0; m < MODES.length; m++) {
  console.log(`${MODES[m].padEnd(40)} ${median(res[m]).toFixed(0).padStart(5)} ns  (${Math.min(...res[m]).toFixed(0)}..${Math.max(...res[m]).toFixed(0)})`)
}
