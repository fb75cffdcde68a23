'use strict'
// require('napi-async-trace/register') (or node --require
// napi-async-trace/register app.js, or --import): zero-code tracing for the
// whole process. Loads the engine into this process and env before the
// program's own addons (so it is the one engine every copy of the package
// and every addon's nat_import() finds), starts recording, and rebinds every
// Node-API addon loaded now or later in this env to the engine's wrappers
// (DESIGN.md, "Zero-code tracing"). Workers inherit the preload, so each env
// that loads an addon hooks its own loader too. Turn it off with
// enable({ addons: false }) (the addons' imports go back to Node) or
// disable() (recording stops; the wrappers then pass straight through).
// It exports the package's module.
const nat = require('./index.js')
nat.enable({ addons: true })
module.exports = nat
