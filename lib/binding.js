'use strict'
// Loads the native addon: a local build (build/Release) when there is one,
// else the Node-API prebuild for this platform shipped in prebuilds/.
// When neither loads, NAT_ENOADDON says so with node-gyp-build's (or the
// loader's) error as `cause`.
//
// One engine per process: the first copy of the package loaded in an env
// (the main thread or a Worker) registers itself under a global symbol, and
// a later copy (a cleared require cache, another path or version) uses
// that copy's addon instead of loading its own. Two addon instances would
// mean two frame stacks (a native link made inside the second copy's frame
// recorded in frame 0) and, for a second file, a second set of rings and
// IDs. lib/index.js completes the entry with the first copy's exports.
const path = require('node:path')

const ENGINE = Symbol.for('napi-async-trace:engine')

function load () {
  const existing = globalThis[ENGINE]
  if (existing !== undefined && existing !== null && existing.binding) return existing.binding
  let binding
  try {
    binding = require('node-gyp-build')(path.join(__dirname, '..'))
  } catch (err) {
    const { natError } = require('./errors')
    throw natError('NAT_ENOADDON', `napi-async-trace: no build of the native addon loads on ${process.platform}-${process.arch} ` +
      `(prebuilds ship for linux-x64 and linux-arm64; elsewhere \`npm rebuild napi-async-trace\` builds it from source): ${err.message.trim()}`, err)
  }
  // Not enumerable, not writable: a later copy reads it, nothing replaces it.
  Object.defineProperty(globalThis, ENGINE, {
    value: {
      binding,
      exports: null, // set by lib/index.js once the module is complete
      version: require('../package.json').version,
      path: __dirname
    },
    configurable: false,
    enumerable: false,
    writable: false
  })
  return binding
}

module.exports = load()
