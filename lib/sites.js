'use strict'
// Site names by index, filled from the addon as new sites appear. Sites
// are process-wide and never removed, so the cache only grows.
const binding = require('./binding')

const siteNames = [null]
function siteName (index) {
  if (index >= siteNames.length) {
    const more = binding.sites(siteNames.length)
    for (const name of more) siteNames.push(name)
  }
  return index < siteNames.length ? siteNames[index] : null
}

module.exports = { siteName }
