'use strict'
// `node -r napi-async-trace/register app.js` (or --import): zero-code
// tracing for the whole process. Starts recording and rebinds every
// Node-API addon, loaded now or later, in this env; Workers inherit the
// preload, so each env that loads an addon hooks its own loader too.
// Turn it off with require('napi-async-trace').enable({ addons: false })
// (the addons' imports go back to Node) or disable() (recording stops; the
// wrappers then pass straight through).
require('./lib/index.js').enable({ addons: true })
