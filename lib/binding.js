'use strict'
// Loads the native addon: a local build (build/Release) when there is one,
// else the Node-API prebuild for this platform shipped in prebuilds/.
// When neither loads, NAT_ENOADDON says so with node-gyp-build's (or the
// loader's) error as `cause`.
const path = require('node:path')

let binding
try {
  binding = require('node-gyp-build')(path.join(__dirname, '..'))
} catch (err) {
  const { natError } = require('./errors')
  throw natError('NAT_ENOADDON', `napi-async-trace: no build of the native addon loads on ${process.platform}-${process.arch} ` +
    `(prebuilds ship for linux-x64 and linux-arm64; elsewhere \`npm rebuild napi-async-trace\` builds it from source): ${err.message.trim()}`, err)
}
module.exports = binding
