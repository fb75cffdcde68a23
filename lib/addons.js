'use strict'
// Zero-code tracing of unmodified Node-API addons: the JS half.
//
// The engine rebinds the Node-API imports of loaded addons (their GOT slots,
// src/interpose) to its wrappers (src/napi/wrap_*.c), which record every
// async work run and threadsafe-function call and run the addon's complete
// and call_js in the requester's context. Here:
//   - start(): rebinds every addon already loaded, and hooks this env's
//     process.dlopen (what require() of a .node file calls), so an addon
//     loaded later is rebound *before its init runs*: the hook dlopen()s the
//     file itself first (the same flags Node will use), rebinds that object,
//     then lets Node's dlopen find it loaded and run its init, whose async
//     work and threadsafe functions are then already traced. Addons that
//     register from a static constructor (older headers) are rebound right
//     after Node's dlopen instead: what their init queued is not traced.
//   - stop(): puts every rebound slot back (process-wide) and unhooks.
//   - list(): each addon seen, with what was rebound or why not.
// Rebinding is process-wide (one GOT per loaded object): an addon rebound in
// one env is rebound for every Worker that uses it. Recording decides what
// is traced: objects created while recording is off are left to Node.
//
// Everything here runs on the JS thread of the env that calls it.
const fs = require('node:fs')
const os = require('node:os')
const binding = require('./binding')

const seen = new Map() // path -> report (the latest one)
const warned = new Set()
let hooked = null // the process.dlopen this env had before the hook
let active = false

// Statuses that mean some import of the object is still Node's own.
const NOT_WHOLE = new Set(['PARTIAL', 'MPROTECT', 'BAD_DYNAMIC', 'NO_DYNAMIC', 'UNSUPPORTED', 'NOT_FOUND'])

function note (reports, when) {
  for (const r of reports) {
    const entry = { ...r, when, active: r.status === 'OK' }
    seen.set(r.path, entry)
    // Says why once per object, then carries on without it.
    if (NOT_WHOLE.has(r.status) && !warned.has(r.path)) {
      warned.add(r.path)
      const err = r.errno ? ` (errno ${r.errno})` : ''
      process.emitWarning(`${r.module || r.path}: not fully rebound, some of its work is not traced: ${r.message}${err}`,
        { type: 'NapiAsyncTraceWarning', code: 'NAT_ADDON_NOT_REBOUND' })
    }
  }
}

// Does the file at `filename` register itself from a static constructor
// (napi_module_register / node_module_register, as addons built with older
// headers do)? Such a constructor runs at the first dlopen of the file and
// leaves its module for Node's DLOpen, which insists on running that first
// dlopen itself: those objects are rebound right after Node loaded them
// (their init has run by then), the others right before. The names appear
// in the file's dynamic string table when imported; a match elsewhere only
// costs the early rebind.
const SELF_REGISTER = [Buffer.from('napi_module_register\0'), Buffer.from('node_module_register\0')]
function registersItself (filename) {
  try {
    const bytes = fs.readFileSync(filename)
    return SELF_REGISTER.some((name) => bytes.includes(name))
  } catch {
    return true // unreadable: let Node load it first and say why
  }
}

function rebindFile (filename, flags, when) {
  try {
    const reports = binding.addonsRebind(filename, flags)
    if (reports !== null) note(reports, when)
    return reports !== null
  } catch {
    return false // a path the engine cannot take (NUL inside): Node refuses it too
  }
}

// The process.dlopen hook. Never throws on its own account: whatever goes
// wrong here, Node's own dlopen still runs and answers.
function dlopen (module, filename, flags) {
  if (!active || typeof filename !== 'string' || filename.endsWith('napi_async_trace.node')) {
    return Reflect.apply(hooked, this, arguments)
  }
  const f = flags === undefined ? os.constants.dlopen.RTLD_LAZY : flags
  const early = Number.isInteger(f) && !registersItself(filename) && rebindFile(filename, f, 'load')
  const result = Reflect.apply(hooked, this, arguments)
  if (!early && active && Number.isInteger(f)) rebindFile(filename, f, 'after-init')
  return result
}

// Do Node's own napi callback scopes carry AsyncLocalStorage here? They do
// where the store lives on the async resource, and not with
// AsyncContextFrame (the default from Node 24, opt-in on 22). Where they
// do, a threadsafe-function call from a native thread (whose context is
// the creator's, as is that of Node's scope) needs no scope of ours; where
// unsure, the answer is no (a scope of ours costs time, never correctness).
function nodeScopeCarries () {
  const major = Number(process.versions.node.split('.')[0])
  const flags = [...process.execArgv, ...(process.env.NODE_OPTIONS || '').split(/\s+/)]
  if (major >= 24) return false
  return !flags.some((f) => f.startsWith('--experimental-async-context-frame'))
}

function start () {
  binding.addonsConfigure(nodeScopeCarries())
  if (active) return
  const info = binding.addonsInfo()
  if (!info.supported) {
    note([{
      path: '',
      module: '',
      status: 'UNSUPPORTED',
      message: `rebinding is not supported on ${process.platform}-${process.arch}`,
      errno: 0, rebound: 0, already: 0, skipped: 0, failed: 0, mprotects: 0, imports: {}
    }], 'enable')
    return
  }
  active = true
  if (hooked === null) {
    hooked = process.dlopen
    process.dlopen = dlopen
  }
  note(binding.addonsRebind(), 'enable')
}

function stop () {
  if (!active) return
  active = false
  // Only this env's own hook is taken out; a later hook someone put on top
  // of ours stays, and ours then passes straight through (active is false).
  if (hooked !== null && process.dlopen === dlopen) {
    process.dlopen = hooked
    hooked = null
  }
  const r = binding.addonsRestore()
  for (const entry of seen.values()) entry.active = false
  return r
}

/**
 * Each addon seen in this env: { path, module, status, message, rebound,
 * already, skipped, failed, mprotects, imports: { name: { rebound,
 * already, skipped, failed, globDat } }, when: 'enable' | 'load' |
 * 'after-init', active }.
 * `status` 'OK' means every import of the wrapped functions the addon has
 * now reaches the engine; anything else says why not.
 */
function list () {
  return [...seen.values()].map((e) => ({ ...e, imports: { ...e.imports } }))
}

/** Whether this env rebinds addons now, and counts of the engine's wrappers. */
function info () {
  const i = binding.addonsInfo()
  return { active, supported: i.supported, slots: i.slots, untraced: i.untraced }
}

module.exports = { start, stop, list, info }
