'use strict'
// Small DOM helpers of the report page. Every string of the data reaches the
// page through textContent or setAttribute, never as markup.

// The SVG namespace, read from an <svg> of the page's markup (so the page
// holds no URL at all, not even a namespace name).
let svgNs = null

function el (tag, attrs, text) {
  const e = document.createElement(tag)
  if (attrs) for (const k in attrs) e.setAttribute(k, attrs[k])
  if (text !== undefined && text !== null) e.textContent = text
  return e
}

function svg (tag, attrs, text) {
  if (svgNs === null) svgNs = document.querySelector('svg').namespaceURI
  const e = document.createElementNS(svgNs, tag)
  if (attrs) for (const k in attrs) e.setAttribute(k, attrs[k])
  if (text !== undefined && text !== null) e.textContent = text
  return e
}

/** ns as milliseconds, about four significant digits; '–' when unknown. */
function ms (ns) {
  if (ns === null || ns === undefined || !isFinite(ns)) return '–'
  const v = ns / 1e6
  const a = Math.abs(v)
  return a >= 100 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toFixed(3)
}

/** A colour (or any custom property) defined once, in report.css. */
function cssVar (name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim()
}

module.exports = { el, svg, ms, cssVar }
