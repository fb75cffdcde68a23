'use strict'
// Native work items on the diagnostics_channel TracingChannel
// `napi-async-trace:work`: start/end at link, asyncStart/asyncEnd around the
// callback (inside the requester's context), error for aborts; nothing
// registered with the engine while nobody subscribes.
const test = require('node:test')
const assert = require('node:assert/strict')
const dc = require('node:diagnostics_channel')
const { AsyncLocalStorage } = require('node:async_hooks')
const { loadConsumer, until, runFresh, scenarioPrelude } = require('./helpers')

const nat = require('../..')
const { linkHooks, workHooks } = require('../../lib/hooks')
const { channelState } = require('../../lib/channel')
const c = loadConsumer()

function recorder () {
  const events = []
  const als = recorder.als
  const handlers = {}
  for (const name of ['start', 'end', 'asyncStart', 'asyncEnd', 'error']) {
    handlers[name] = (ctx) => events.push({ name, ctx, store: als.getStore(), linkID: ctx.linkID })
  }
  return { events, handlers }
}
recorder.als = new AsyncLocalStorage()

test('nobody subscribed: no hook is registered with the engine', () => {
  assert.equal(channelState().active, false)
  assert.equal(linkHooks.size, 0)
  assert.equal(workHooks.size, 0)
  assert.equal(nat.channel.hasSubscribers, false)
})

test('a subscriber sees start, end, asyncStart, asyncEnd per item, one context object, asyncStart in the requester\'s context', async (t) => {
  const tc = dc.tracingChannel('napi-async-trace:work')
  assert.equal(tc.start, nat.channel.start, 'the same channels as nat.channel')
  const { events, handlers } = recorder()
  tc.subscribe(handlers)
  t.after(() => tc.unsubscribe(handlers))
  assert.equal(channelState().active, true)
  assert.equal(workHooks.size, 1)
  nat.enable()
  t.after(() => { nat.disable(); nat.drain() })
  const q = c.createQueue('chan:task', () => { done++ }, { poolThreads: 2 })
  let done = 0
  const linkIDs = []
  for (let i = 0; i < 3; i++) {
    recorder.als.run(`request-${i}`, () => linkIDs.push(c.submit(q, i, 200 * (3 - i))))
  }
  await until(() => done === 3, 'callbacks')
  c.release(q)
  for (let i = 0; i < 3; i++) {
    const mine = events.filter((e) => e.linkID === linkIDs[i])
    assert.deepEqual(mine.map((e) => e.name), ['start', 'end', 'asyncStart', 'asyncEnd'])
    const ctx = mine[0].ctx
    assert.ok(mine.every((e) => e.ctx === ctx), 'one context object per item')
    assert.equal(ctx.site, 'chan:task')
    assert.ok(ctx.executeID > 0)
    assert.equal(mine[0].store, `request-${i}`, 'start is published in the linking frame')
    assert.equal(mine[2].store, `request-${i}`, 'asyncStart runs in the requester\'s context')
    assert.equal(mine[3].store, `request-${i}`)
  }
  // The recorded frame of the callback is the one asyncStart named.
  const g = nat.graph(nat.drain())
  const ctx = events.find((e) => e.name === 'asyncStart').ctx
  const frame = g.frame(ctx.executeID)
  assert.ok(frame, 'the executeID is a recorded frame')
})

test('tracked async work: asyncStart/asyncEnd around complete; a cancelled run publishes error first', async (t) => {
  const tc = dc.tracingChannel('napi-async-trace:work')
  const { events, handlers } = recorder()
  tc.subscribe(handlers)
  t.after(() => tc.unsubscribe(handlers))
  nat.enable()
  t.after(() => { nat.disable(); nat.drain() })
  const results = []
  const handles = [0, 1, 2, 3, 4].map((i) => c.work('chan:work', i, i < 4 ? 100 : 0, (cancelled) => results.push(cancelled)))
  const cancel = c.workCancel(handles[4])
  await until(() => results.length === 5, 'completions')
  const names = (link) => events.filter((e) => e.linkID === link).map((e) => e.name)
  const byLink = new Map()
  for (const e of events) byLink.set(e.linkID, e.ctx)
  assert.equal(byLink.size, 5)
  let errors = 0
  for (const [link, ctx] of byLink) {
    if (ctx.error) {
      errors++
      assert.equal(ctx.error.code, 'NAT_ECANCELED')
      assert.deepEqual(names(link), ['start', 'end', 'error', 'asyncStart', 'asyncEnd'])
    } else {
      assert.deepEqual(names(link), ['start', 'end', 'asyncStart', 'asyncEnd'])
    }
  }
  assert.equal(errors, cancel === 0 ? 1 : 0)
  assert.equal(cancel, 0, 'the fifth run was still queued behind four busy pool threads')
})

test('a task cancelled on the JS thread publishes error', async (t) => {
  const { events, handlers } = recorder()
  const tc = dc.tracingChannel('napi-async-trace:work')
  tc.subscribe(handlers)
  t.after(() => tc.unsubscribe(handlers))
  nat.enable()
  t.after(() => { nat.disable(); nat.drain() })
  const q = c.createQueue('chan:cancel', () => {}, { poolThreads: 0 })
  const task = c.link(q)
  const { linkID } = c.taskIds(task)
  assert.equal(c.cancel(task), 0)
  c.release(q)
  const mine = events.filter((e) => e.linkID === linkID)
  assert.deepEqual(mine.map((e) => e.name), ['start', 'end', 'error'])
  assert.equal(mine[2].ctx.error.code, 'NAT_ECANCELED')
})

test('subscribing through diagnostics_channel.subscribe and a bound store count; the last unsubscribe removes the hooks', () => {
  const fn = () => {}
  dc.subscribe('tracing:napi-async-trace:work:asyncEnd', fn)
  assert.equal(channelState().active, true)
  const als = new AsyncLocalStorage()
  nat.channel.start.bindStore(als)
  dc.unsubscribe('tracing:napi-async-trace:work:asyncEnd', fn)
  assert.equal(channelState().active, true, 'the bound store still listens')
  nat.channel.start.unbindStore(als)
  assert.equal(channelState().active, false)
  assert.equal(linkHooks.size, 0)
  assert.equal(workHooks.size, 0)
})

// Node 20 turns an exception left by a Node-API callback into a warning
// (DEP0168) unless this policy flag is given; later Nodes take it as given.
test('an exception thrown by the callback still reaches the process after asyncEnd', () => {
  const r = runFresh(`${scenarioPrelude()}
    const dc = require('node:diagnostics_channel')
    const seen = []
    dc.tracingChannel('napi-async-trace:work').subscribe({
      start () {}, end () {}, error () {},
      asyncStart (ctx) { seen.push('asyncStart') },
      asyncEnd (ctx) { seen.push('asyncEnd') }
    })
    nat.enable()
    process.on('uncaughtException', (err) => {
      seen.push('uncaught:' + err.message)
      setImmediate(() => { c.release(q); done({ seen }) })
    })
    const q = c.createQueue('chan:throw', () => { throw new Error('boom') }, { poolThreads: 1 })
    c.submit(q, 1, 0)
  `, { args: ['--force-node-api-uncaught-exceptions-policy=true'] })
  assert.equal(r.status, 0, r.stderr)
  const { seen } = JSON.parse(r.stdout.trim().split('\n').pop())
  assert.deepEqual(seen, ['asyncStart', 'asyncEnd', 'uncaught:boom'])
})
