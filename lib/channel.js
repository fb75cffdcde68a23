'use strict'
// Native work items on a diagnostics_channel TracingChannel,
// `napi-async-trace:work`, so that APM agents see them by subscribing,
// without patching anything:
//
//   start, end     when the item is linked (work submitted), in the
//                  linking frame, back to back (the submitting call has
//                  returned by the time the engine knows of it)
//   asyncStart     just before the item's callback, inside the requester's
//                  context (AsyncLocalStorage, async_hooks)
//   asyncEnd       just after the callback returned or threw
//   error          the item was aborted (async work cancelled, a task
//                  cancelled on the JS thread); ctx.error is an Error with
//                  code 'NAT_ECANCELED'
//
// One context object per item, the same object on each of its channels:
// { linkID, site, executeID (from asyncStart on), error }. Events are
// published (publish(), not runStores()): the callback is native code.
//
// Zero cost when nobody listens: the engine calls JS at link and dispatch
// only while a hook is registered, and the hooks are registered only while
// one of the five channels has a subscriber or a bound store. Node gives no
// event for that, so the channel objects (which Node keeps, per name, for as
// long as anyone holds them; this module does) get own subscribe,
// unsubscribe, bindStore and unbindStore methods that call Node's and then
// look at hasSubscribers. Checked on Node 20, 22, 24 and 26 (test/js
// otel-channel.test.js); if a Node version ever subscribed past them, the
// channel would stay quiet, never wrong.
//
// Items are published while recording is on (nat.enable()): their IDs come
// from the recording. Items linked on native threads have no start/end (no
// JS context to publish in); their asyncStart gets a fresh context object.
// Everything here runs on the JS thread of one env.
const dc = require('node:diagnostics_channel')
const { linkHooks, workHooks, isNativeSite } = require('./hooks')
const { siteName } = require('./sites')
const { natError } = require('./errors')

const NAME = 'napi-async-trace:work'
const PHASES = ['start', 'end', 'asyncStart', 'asyncEnd', 'error']
// Items linked and not yet dispatched; past this many the oldest are
// forgotten (their asyncStart gets a fresh context object), counted.
const MAX_OPEN = 100000

const channel = typeof dc.tracingChannel === 'function' ? dc.tracingChannel(NAME) : null

const open = new Map() // linkID -> context object
let lastAborted = null // an aborted work run is dispatched right after
let forgotten = 0
let active = false

function onLink (linkID, executeID, site) {
  if (linkID === 0 || !isNativeSite(site)) return
  const ctx = { linkID, site: siteName(site), executeID: 0 }
  if (open.size >= MAX_OPEN) {
    open.delete(open.keys().next().value)
    forgotten++
  }
  open.set(linkID, ctx)
  if (channel.start.hasSubscribers) channel.start.publish(ctx)
  if (channel.end.hasSubscribers) channel.end.publish(ctx)
}

function contextOf (linkID, site) {
  let ctx = open.get(linkID)
  if (ctx === undefined) {
    if (lastAborted !== null && lastAborted.linkID === linkID) ctx = lastAborted
    else ctx = { linkID, site: siteName(site), executeID: 0 }
    open.set(linkID, ctx)
  }
  return ctx
}

function onWork (phase, linkID, executeID, site) {
  if (!isNativeSite(site)) return
  if (phase === 1) {
    const ctx = contextOf(linkID, site)
    ctx.executeID = executeID
    if (channel.asyncStart.hasSubscribers) channel.asyncStart.publish(ctx)
  } else if (phase === 2) {
    const ctx = contextOf(linkID, site)
    open.delete(linkID)
    if (lastAborted === ctx) lastAborted = null
    if (channel.asyncEnd.hasSubscribers) channel.asyncEnd.publish(ctx)
  } else if (phase === 3) {
    const ctx = contextOf(linkID, site)
    open.delete(linkID)
    ctx.error = natError('NAT_ECANCELED', `napi-async-trace: work item ${linkID} (${ctx.site}) was cancelled or aborted before it ran`)
    lastAborted = ctx
    if (channel.error.hasSubscribers) channel.error.publish(ctx)
  }
}

function refresh () {
  const now = PHASES.some((p) => channel[p].hasSubscribers)
  if (now === active) return
  active = now
  if (now) {
    linkHooks.add(onLink)
    workHooks.add(onWork)
  } else {
    linkHooks.delete(onLink)
    workHooks.delete(onWork)
    open.clear()
    lastAborted = null
  }
}

if (channel !== null) {
  for (const phase of PHASES) {
    const ch = channel[phase]
    for (const method of ['subscribe', 'unsubscribe', 'bindStore', 'unbindStore']) {
      Object.defineProperty(ch, method, {
        configurable: true,
        writable: true,
        value: function watched (...args) {
          // Node's own method, from the channel's current prototype (Node
          // swaps it between inactive and active channels).
          const result = Object.getPrototypeOf(this)[method].apply(this, args)
          refresh()
          return result
        }
      })
    }
  }
  refresh() // a subscriber may have come before this module was loaded
}

module.exports = {
  channel,
  NAME,
  // For tests and stats: whether the hooks are in, and how many open items
  // were forgotten past MAX_OPEN.
  channelState: () => ({ active, open: open.size, forgotten })
}
