'use strict'
// Options and event objects are read from their own properties only: a
// property inherited from Object.prototype (say `Object.prototype.js =
// true`, set by some other code) must not switch a feature on or make a
// malformed event look valid.

/** A null-prototype copy of the own enumerable properties of `o`. */
function own (o) {
  return Object.assign(Object.create(null), o)
}

module.exports = { own }
