'use strict'
// The directory holding napi_async_trace.h, for an addon's binding.gyp:
//   "include_dirs": ["<!(node -p \"require('napi-async-trace/include')\")"]
// Requiring this file does not load the native addon.
module.exports = require('node:path').join(__dirname, '..', 'include')
