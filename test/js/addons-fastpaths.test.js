'use strict'
// The wrappers' fast paths (src/napi/wrap.c) keep what the slow ones gave:
// a per-run async context that async_hooks sees (now made by
// napi_async_init without a resource object of ours), one site per
// (call site, name) although sites are cached per call site, and every
// item of threadsafe functions fed from threads that come and go traced
// (slots move through per-thread caches).
const test = require('node:test')
const assert = require('node:assert/strict')
const { buildPlain, scenario } = require('./addons-helpers')

const plain = JSON.stringify(buildPlain())

test('async_hooks sees the per-run context of wrapped async work: typed by the site, triggered where the run was queued', () => {
  const body = `
    const ah = require('node:async_hooks')
    const inits = new Map()
    const hook = ah.createHook({ init (id, type, trigger) { inits.set(id, { type, trigger }) } }).enable()
    const p = require(${plain})
    const runs = []
    for (let i = 0; i < 3; i++) {
      runs.push(await new Promise((resolve) => setImmediate(() => {
        const queuedIn = ah.executionAsyncId()
        p.work('ctx', () => {
          const id = ah.executionAsyncId()
          resolve({ queuedIn, id, init: inits.get(id) || null })
        }, 10, false)
      })))
    }
    hook.disable()
    done({ runs })`
  const on = scenario(body).result
  const ids = new Set()
  for (const r of on.runs) {
    assert.ok(r.init, JSON.stringify(r))
    assert.equal(r.init.type, 'plain:ctx')
    assert.equal(r.init.trigger, r.queuedIn)
    ids.add(r.id)
  }
  assert.equal(ids.size, on.runs.length) // one context per run
  // The control: Node's own resource, typed by the bare name.
  const off = scenario(body, { addons: false }).result
  for (const r of off.runs) assert.equal(r.init.type, 'ctx')
})

test('two names created from the same call site are two sites, however they alternate', () => {
  const { result } = scenario(`
    const p = require(${plain})
    for (let i = 0; i < 40; i++) {
      await new Promise((r) => p.work(i % 2 ? 'odd' : 'even', r, 10, false))
    }
    const sites = {}
    for (const e of events()) if (e.event === 'executionEnd' && /^plain:(odd|even)$/.test(e.site)) sites[e.site] = (sites[e.site] || 0) + 1
    done({ sites })`)
  // Two frames per run: the pool frame and the complete frame.
  assert.deepEqual(result.sites, { 'plain:even': 40, 'plain:odd': 40 })
})

test('threadsafe functions fed from threads that come and go: every item is traced and runs once', () => {
  const FEEDS = 12
  const N = 3000
  const { result } = scenario(`
    const p = require(${plain})
    let calls = 0
    let begins = 0
    for (let f = 0; f < ${FEEDS}; f++) {
      await new Promise((resolve) => {
        let n = 0
        p.feed((value, contextOk) => { calls++; if (!contextOk) throw new Error('context'); if (++n === ${N}) resolve() }, ${N}, false, false, false)
      })
      for (const e of events().splice(0)) if (e.site === 'plain:feed' && e.event === 'executionBegin') begins++
    }
    done({ calls, begins, stats: nat.stats() })`)
  assert.equal(result.calls, FEEDS * N)
  assert.equal(result.stats.dropped, 0)
  assert.equal(result.begins, FEEDS * N)
})
