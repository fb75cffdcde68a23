'use strict'
// Loads the native addon: a local build (build/Release) when there is one,
// else the Node-API prebuild for this platform shipped in prebuilds/.
const path = require('node:path')

module.exports = require('node-gyp-build')(path.join(__dirname, '..'))
