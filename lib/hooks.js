'use strict'
// The engine calls into JS at two points only when something registered
// for them, so that a program with no consumer pays one load of a NULL
// pointer per link and per dispatch and nothing else:
//
//   link hook  (linkID, executeID, site)  each link made on this JS thread
//              (enable({ stacks: true }), the OpenTelemetry bridge's context
//              capture, the TracingChannel's start/end)
//   work hook  (phase, linkID, executeID, site)  around each dispatched
//              callback: 1 before it (inside the requester's context), 2
//              after it, 3 when the item was aborted (the TracingChannel)
//
// Each point holds one native reference; several consumers share it through
// a registry here, which installs nothing, the one function, or a loop over
// them. A consumer that throws does not stop the others; its errors are
// counted (hookErrors()).
//
// Everything here runs on the JS thread of one env (each Worker has its
// own registries, as it has its own copy of this module).
const binding = require('./binding')
const { siteName } = require('./sites')

let errors = 0

function registry (install) {
  const hooks = new Set()
  function refresh () {
    const list = [...hooks]
    if (list.length === 0) {
      install(null)
    } else if (list.length === 1) {
      const only = list[0]
      install(function natHook (a, b, c, d) {
        try {
          only(a, b, c, d)
        } catch {
          errors++
        }
      })
    } else {
      install(function natHooks (a, b, c, d) {
        for (const h of list) {
          try {
            h(a, b, c, d)
          } catch {
            errors++
          }
        }
      })
    }
  }
  return {
    add (fn) {
      if (hooks.has(fn)) return
      hooks.add(fn)
      refresh()
    },
    delete (fn) {
      if (hooks.delete(fn)) refresh()
    },
    has (fn) {
      return hooks.has(fn)
    },
    get size () {
      return hooks.size
    }
  }
}

const linkHooks = registry((fn) => binding.setLinkHook(fn))
const workHooks = registry((fn) => binding.setWorkHook(fn))

// Sites a bridge leaves to others: the JS resource bridge's (js:<type>) and
// the engine's own (napi-async-trace:*). Cached per site index.
const foreign = []
function isNativeSite (site) {
  let v = foreign[site]
  if (v === undefined) {
    const name = siteName(site)
    v = foreign[site] = name === null || name.startsWith('js:') || name.startsWith('napi-async-trace:')
  }
  return !v
}

module.exports = { linkHooks, workHooks, isNativeSite, hookErrors: () => errors }
