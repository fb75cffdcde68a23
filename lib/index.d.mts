// Types of the ESM entry (lib/index.mjs): the same names as the CommonJS
// entry, plus the module itself as the default export.
import * as nat from './index.js'
export * from './index.js'
export default nat
