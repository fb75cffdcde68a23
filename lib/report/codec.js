'use strict'
// Times in the report's data travel as steps: each value minus the previous
// known one (the first minus 0), null where unknown. Sorted or nearly
// sorted times then take 5 to 7 digits instead of 11, which makes a page of
// a quarter of a million frames about a sixth smaller and quicker to load.
// toSteps runs in Node (lib/report.js), fromSteps in the page (model.js).

/** [t0, t1, ...] (null: unknown) as steps. */
function toSteps (values) {
  const out = new Array(values.length)
  let prev = 0
  for (let i = 0; i < values.length; i++) {
    const v = values[i]
    if (v === null || !Number.isFinite(v)) { out[i] = null; continue }
    out[i] = v - prev
    prev = v
  }
  return out
}

/** Steps back into times: a Float64Array, NaN where unknown. */
function fromSteps (steps) {
  const out = new Float64Array(steps.length)
  let prev = 0
  for (let i = 0; i < steps.length; i++) {
    const s = steps[i]
    if (s === null) { out[i] = NaN; continue }
    prev += s
    out[i] = prev
  }
  return out
}

module.exports = { toSteps, fromSteps }
