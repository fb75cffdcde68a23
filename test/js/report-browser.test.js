'use strict'
// The HTML report in a real browser (Debian's chromium through
// playwright-core): it loads from a file: URL with every other request
// blocked, and clicking the last hop of a 5-hop native chain shows that
// hop's async call stack, hop by hop, down to the root.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { pathToFileURL } = require('node:url')
const { root, loadConsumer, nativeChain } = require('./helpers')

const CHROMIUM = '/usr/bin/chromium'
const SKIP = fs.existsSync(CHROMIUM) ? false : 'chromium not installed: apt-get install chromium'
const SCREENSHOT = path.join(root, 'test', 'out', 'report.png')
const EVIL_SITE = 'x:</script><img src=x onerror=alert(1)>'

const nat = require(root)



test('the report in chromium: offline, click a frame, read its async stack', { skip: SKIP, timeout: 180_000 }, async () => {
  const c = loadConsumer()
  nat.enable({ stacks: true })
  nat.drain()
  const leakSite = nat.marks.site('leak:q')
  const leaked = nat.marks.link(leakSite) // never made ready: pending
  const evil = nat.marks.begin(nat.marks.site(EVIL_SITE), 0)
  nat.marks.end(evil)
  const { last } = await nativeChain(c, 5, 'hop')
  const g = nat.graph(nat.drain())
  nat.disable()
  const expected = g.stackSites(last)
  assert.deepEqual(expected, ['hop:5', 'hop:4', 'hop:3', 'hop:2', 'hop:1', 'hop:start', 'root'])

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nat-report-'))
  const file = path.join(dir, 'report.html')
  fs.writeFileSync(file, nat.renderReport(g, { title: 'browser test', generated: new Date().toISOString() }))

  const { chromium } = require('playwright-core')
  // The browser is not what is under test: it must not inherit a sanitizer
  // runtime preloaded into this Node (npm run test:sanitizers:js).
  const env = { ...process.env }
  for (const k of ['LD_PRELOAD', 'ASAN_OPTIONS', 'UBSAN_OPTIONS', 'LSAN_OPTIONS']) delete env[k]
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    env,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync']
  })
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
    const external = []
    await context.route('**/*', (route) => {
      const url = route.request().url()
      if (url.startsWith('file:')) return route.continue()
      external.push(url)
      return route.abort()
    })
    const page = await context.newPage()
    const errors = []
    const dialogs = []
    page.on('request', (req) => { if (!req.url().startsWith('file:') && !external.includes(req.url())) external.push(req.url()) })
    page.on('pageerror', (err) => errors.push(String(err)))
    page.on('console', (msg) => { if (msg.type() === 'error') errors.push(msg.text()) })
    page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss() })

    await page.goto(pathToFileURL(file).href)
    await page.locator('body[data-ready="true"]').waitFor()

    // Every embedded frame has its rect; click the last hop's.
    assert.equal(await page.locator('#timeline rect[data-frame-id]').count(), g.frames().length)
    // Each hop was made ready on a pool thread of its own: those threads
    // have lanes, with one ready mark per hop.
    const poolThreads = new Set(g.frames().filter((f) => f.site && f.site.startsWith('hop:') && f.site !== 'hop:start')
      .map((f) => g.node(f.readyID).thread))
    assert.equal(poolThreads.size, 5)
    for (const t of poolThreads) {
      assert.equal(await page.locator('#timeline .lane-label', { hasText: new RegExp(`thread ${t}$`) }).count(), 1, `a lane for pool thread ${t}`)
    }
    assert.ok(await page.locator('#timeline rect.ready-mark').count() >= 5)
    await page.locator(`#timeline rect[data-frame-id="${last}"]`).click()
    const hops = page.locator('#stack-panel [data-kind="frame"], #stack-panel [data-kind="root"]')
    await hops.nth(expected.length - 1).waitFor()
    assert.deepEqual(await hops.evaluateAll((els) => els.map((e) => e.getAttribute('data-site'))), expected)
    // Every step, in order, as graph.stack() has them; the first link's JS stack is shown.
    const kinds = await page.locator('#stack-panel [data-kind]').evaluateAll((els) => els.map((e) => e.getAttribute('data-kind')))
    assert.deepEqual(kinds, g.stack(last).map((s) => s.kind))
    assert.match(await page.locator('#stack-panel [data-kind="link"] pre').last().textContent(), /nativeChain/)
    assert.ok(await page.locator('#stack-graph rect').count() >= expected.length, 'the chain is drawn')
    assert.equal(await page.locator(`#timeline rect.selected[data-frame-id="${last}"]`).count(), 1)

    // Site table: one row per site with frames, the hops among them.
    const siteRows = page.locator('#site-table tbody tr')
    assert.equal(await siteRows.count(), g.sites().length)
    for (let i = 1; i <= 5; i++) assert.equal(await page.locator(`#site-table tbody tr[data-site="hop:${i}"]`).count(), 1)
    // Pending list: the leaked link, by kind, site and id.
    const leak = page.locator(`#pending-list tbody tr[data-kind="link"][data-id="${leaked}"]`)
    assert.equal(await leak.getAttribute('data-site'), 'leak:q')
    // The hostile site name is text, not markup.
    assert.equal(await page.locator('img').count(), 0)
    assert.equal(await page.locator(`#site-table tbody tr td.site >> text="${EVIL_SITE}"`).count(), 1)

    fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true })
    await page.screenshot({ path: SCREENSHOT, fullPage: true })

    assert.deepEqual(external, [], 'no request left the file: URL')
    assert.deepEqual(errors, [], 'no script errors')
    assert.deepEqual(dialogs, [])
  } finally {
    await browser.close()
    fs.rmSync(dir, { recursive: true, force: true })
  }
})
