#!/usr/bin/env node
'use strict'
// The HTML report in chromium at 1k, 50k and 250k frames: load time and
// the time of one zoom step and one pan step. A benchmark, not a test.
//
//   node bench/report-browser.js [--rounds N] [--sizes 1000,50000,250000]
//
// Each size's report is rendered once (synthetic pool traces, as in
// test/js/report-synth.js); then, in every round, each size in turn (sizes
// interleaved, so drift on the machine hits all alike) is loaded in a fresh
// page and zoomed in ten wheel steps then panned ten steps. Reported per
// size: median and min..max over the rounds of
//   load       page.goto until the viewer is ready (HTML parse, JSON.parse,
//              the model, the first draw), wall clock from Node
//   zoom/pan   per step: a wheel event (or pan) dispatched in the page until
//              the canvas was redrawn for it, inside the page; this waits for
//              the next animation frame (up to 16.7 ms at 60 Hz)
//   draw       the redraw itself (the canvas work of one step)
// Targets (issue 18): load < 2 s and zoom < 100 ms per step at 250k frames.
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { pathToFileURL } = require('node:url')

const root = path.join(__dirname, '..')
const args = process.argv.slice(2)
const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt }
const ROUNDS = Number(opt('--rounds', '5'))
const SIZES = opt('--sizes', '1000,50000,250000').split(',').map(Number)
const STEPS = 10
const CHROMIUM = '/usr/bin/chromium'

const nat = require(root)
const { syntheticPoolTrace, requestsFor } = require('../test/js/report-synth')

function log (msg) { process.stderr.write(msg + '\n') }
function median (xs) {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}
function spread (xs) {
  return `${median(xs).toFixed(1)} (${Math.min(...xs).toFixed(1)}..${Math.max(...xs).toFixed(1)})`
}

// In the page: STEPS wheel zooms about the middle (or pans), each timed from
// the event to the end of the redraw it caused.
async function steps (kind) {
  const canvas = document.getElementById('timeline')
  const box = canvas.getBoundingClientRect()
  const out = { step: [], draw: [] }
  for (let i = 0; i < 10; i++) {
    const drawn = window.natReport.afterDraw()
    const t0 = performance.now()
    if (kind === 'zoom') {
      canvas.dispatchEvent(new WheelEvent('wheel', { deltaY: -100, clientX: box.left + box.width * 0.55, clientY: box.top + 30, bubbles: true, cancelable: true }))
    } else {
      document.getElementById(i % 2 ? 'pan-left' : 'pan-right').click()
    }
    await drawn
    out.step.push(performance.now() - t0)
    out.draw.push(window.natReport.stats().drawMs)
  }
  return out
}

async function main () {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found (apt-get install chromium)`)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nat-report-bench-'))
  const files = new Map()
  for (const n of SIZES) {
    const t0 = Date.now()
    const { events, frames } = syntheticPoolTrace({ requests: requestsFor(n), leaks: 50 })
    const g = nat.graph(events)
    const t1 = Date.now()
    const html = nat.renderReport(g, { title: `${frames} frames` })
    const file = path.join(dir, `report-${n}.html`)
    fs.writeFileSync(file, html)
    files.set(n, file)
    log(`${frames} frames: graph ${t1 - t0} ms, renderReport ${Date.now() - t1} ms, ${(html.length / 1e6).toFixed(1)} MB`)
  }
  const { chromium } = require('playwright-core')
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
  const r = new Map(SIZES.map((n) => [n, { load: [], zoom: [], zoomDraw: [], pan: [], panDraw: [], phases: [] }]))
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const n of SIZES) {
        const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
        const t0 = performance.now()
        await page.goto(pathToFileURL(files.get(n)).href)
        await page.locator('body[data-ready="true"]').waitFor({ timeout: 120_000 })
        const load = performance.now() - t0
        r.get(n).phases.push(await page.evaluate(() => window.natReport.phases))
        const zoom = await page.evaluate(steps, 'zoom')
        const pan = await page.evaluate(steps, 'pan')
        const x = r.get(n)
        x.load.push(load)
        x.zoom.push(...zoom.step)
        x.zoomDraw.push(...zoom.draw)
        x.pan.push(...pan.step)
        x.panDraw.push(...pan.draw)
        await page.close()
        log(`round ${round + 1}/${ROUNDS} ${n}: load ${load.toFixed(0)} ms, zoom median ${median(zoom.step).toFixed(1)} ms`)
      }
    }
  } finally {
    await browser.close()
    fs.rmSync(dir, { recursive: true, force: true })
  }
  console.log(`report in chromium, ${ROUNDS} rounds (zoom/pan: ${STEPS} steps a round), ms: median (min..max)`)
  console.log(['frames', 'load', 'zoom step', 'zoom draw', 'pan step', 'pan draw'].map((h, i) => i ? h.padStart(24) : h.padStart(8)).join(''))
  for (const n of SIZES) {
    const x = r.get(n)
    console.log([String(n).padStart(8), ...[x.load, x.zoom, x.zoomDraw, x.pan, x.panDraw].map((v) => spread(v).padStart(24))].join(''))
  }
  console.log('\nwhere the load goes (in the page, ms, medians): script start (HTML received and parsed), then each step of the viewer')
  for (const n of SIZES) {
    const ph = r.get(n).phases
    console.log(`${String(n).padStart(8)}  ` + Object.keys(ph[0]).map((k) => `${k} ${median(ph.map((p) => p[k])).toFixed(0)}`).join(', '))
  }
  const big = r.get(250000)
  if (big) {
    console.log(`targets at 250k: load < 2000 ms: ${median(big.load) < 2000 ? 'met' : 'NOT met'}; zoom < 100 ms per step: ${Math.max(...big.zoom) < 100 ? 'met (every step)' : median(big.zoom) < 100 ? 'met (median; not every step)' : 'NOT met'}`)
  }
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
