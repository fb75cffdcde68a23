'use strict'
// require('napi-async-trace/register') (or node --require
// napi-async-trace/register app.js): loads the engine into this process
// and env before the program's own addons, so it is the one engine every
// copy of the package and every addon's nat_import() finds. Zero-code
// tracing of unmodified addons (DESIGN.md, "Zero-code tracing") is turned
// on here by the module that implements it; until it lands this entry only
// loads the engine. It exports the package's module.
module.exports = require('./index.js')
