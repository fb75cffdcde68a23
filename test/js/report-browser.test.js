'use strict'
// The HTML report in a real browser (Debian's chromium through
// playwright-core), loaded from a file: URL with every other request
// blocked. The tests drive the viewer as a person would: zoom (wheel and
// buttons), pan (drag), click a frame on the canvas (hit-testing) and read
// its async stack hop by hop, click a pending group, pick one request.
// They also load the demo's report and a 250k-frame synthetic trace and
// write screenshots to test/out/ (git-ignored) for a person to look at.
// Nothing here is timed: bench/report-browser.js measures.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { pathToFileURL } = require('node:url')
const { root, loadConsumer, nativeChain } = require('./helpers')
const { syntheticPoolTrace, requestsFor } = require('./report-synth')
const { scenario } = require('./addons-helpers')
const { ensure } = require('../../scripts/addons-setup')

const CHROMIUM = '/usr/bin/chromium'
const SKIP = fs.existsSync(CHROMIUM) ? false : 'chromium not installed: apt-get install chromium'
const OUT = path.join(root, 'test', 'out')
const EVIL_SITE = 'x:</script><img src=x onerror=alert(1)>'

const nat = require(root)

// One browser for the file; each test opens a page with every request
// outside file: blocked and every script error collected.
let browser = null
test.before(async () => {
  if (SKIP) return
  const { chromium } = require('playwright-core')
  // The browser is not what is under test: it must not inherit a sanitizer
  // runtime preloaded into this Node (npm run test:sanitizers:js).
  const env = { ...process.env }
  for (const k of ['LD_PRELOAD', 'ASAN_OPTIONS', 'UBSAN_OPTIONS', 'LSAN_OPTIONS']) delete env[k]
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    env,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync']
  })
  fs.mkdirSync(OUT, { recursive: true })
})
test.after(async () => { if (browser) await browser.close() })

async function open (file) {
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
  page.on('pageerror', (err) => errors.push(String(err)))
  page.on('console', (msg) => { if (msg.type() === 'error') errors.push(msg.text()) })
  page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss() })
  await page.goto(pathToFileURL(file).href)
  await page.locator('body[data-ready="true"]').waitFor({ timeout: 120_000 })
  return {
    page,
    async close () {
      assert.deepEqual(external, [], 'no request left the file: URL')
      assert.deepEqual(errors, [], 'no script errors')
      assert.deepEqual(dialogs, [])
      await context.close()
    }
  }
}

const view = (page) => page.evaluate(() => window.natReport.view())
const afterDraw = (page) => page.evaluate(() => window.natReport.afterDraw())

// Clicks frame `id` on the canvas at the middle of its box.
async function clickFrame (page, id) {
  await page.locator('#timeline').scrollIntoViewIfNeeded()
  const box = await page.evaluate((id) => window.natReport.frameBox(id), id)
  assert.ok(box, `frame ${id} is on screen`)
  await page.mouse.click(box.x + Math.min(box.w / 2, 3), box.y + box.h / 2)
  await page.locator(`body[data-selected="${id}"]`).waitFor()
}

function writeReport (dir, g, options) {
  const file = path.join(dir, 'report.html')
  fs.writeFileSync(file, nat.renderReport(g, options))
  return file
}

test('a native chain: zoom, pan, click a frame and read every hop, pending groups, one request', { skip: SKIP, timeout: 180_000 }, async () => {
  const c = loadConsumer()
  nat.enable({ stacks: true })
  nat.drain()
  const leakSite = nat.marks.site('leak:q')
  const leaks = []
  for (let i = 0; i < 3; i++) leaks.push(nat.marks.link(leakSite)) // never made ready; one stack
  const evil = nat.marks.begin(nat.marks.site(EVIL_SITE), 0)
  nat.marks.end(evil)
  const { last } = await nativeChain(c, 5, 'hop')
  const g = nat.graph(nat.drain())
  nat.disable()
  const expected = g.stackSites(last)
  assert.deepEqual(expected, ['hop:5', 'hop:4', 'hop:3', 'hop:2', 'hop:1', 'hop:start', 'root'])

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nat-report-'))
  try {
    const { page, close } = await open(writeReport(dir, g, { title: 'browser test', generated: new Date().toISOString() }))
    // The header counts are the console's.
    const total = async (k) => Number(await page.locator(`#total-${k} dd`).textContent())
    assert.equal(await total('frames'), g.frames().length)
    assert.equal(await total('sites'), g.sites().length)
    assert.equal(await total('pending'), g.pending().length)
    assert.equal(await page.evaluate(() => window.natReport.frames), g.frames().length)
    // Lanes: the threads that ran frames, and each hop's pool thread (its
    // ready marks).
    const labels = await page.evaluate(() => window.natReport.laneLabels())
    const poolThreads = new Set(g.frames().filter((f) => f.site && f.site.startsWith('hop:') && f.site !== 'hop:start')
      .map((f) => g.node(f.readyID).thread))
    assert.equal(poolThreads.size, 5)
    for (const t of poolThreads) assert.equal(labels.filter((l) => l.endsWith(`thread ${t}`)).length, 1, `a lane for thread ${t}`)
    // The legend names every site that ran a frame.
    const legend = await page.locator('#legend li').evaluateAll((els) => els.map((e) => e.getAttribute('data-site')))
    assert.deepEqual(legend.sort(), [...new Set(g.frames().map((f) => f.site ?? ''))].sort())

    // Zoom in with the wheel at the pointer, out with the button; pan by dragging.
    const whole = await view(page)
    const canvas = page.locator('#timeline')
    const cb = await canvas.boundingBox()
    await page.mouse.move(cb.x + cb.width * 0.6, cb.y + 30)
    await page.mouse.wheel(0, -100)
    await afterDraw(page)
    const zoomed = await view(page)
    assert.ok(zoomed.v1 - zoomed.v0 < whole.v1 - whole.v0, 'the wheel zoomed in')
    assert.equal(await canvas.getAttribute('data-view'), `${Math.round(zoomed.v0)}-${Math.round(zoomed.v1)}`, 'and the canvas was redrawn for it')
    await page.mouse.move(cb.x + cb.width * 0.5, cb.y + 30)
    await page.mouse.down()
    await page.mouse.move(cb.x + cb.width * 0.5 + 120, cb.y + 30, { steps: 4 })
    await page.mouse.up()
    await afterDraw(page)
    const panned = await view(page)
    assert.ok(panned.v0 < zoomed.v0, 'dragging right shows earlier times')
    assert.ok(Math.abs((panned.v1 - panned.v0) - (zoomed.v1 - zoomed.v0)) < 1e-6 * (zoomed.v1 - zoomed.v0), 'a pan keeps the range')
    await page.locator('#zoom-in').click()
    await afterDraw(page)
    const narrower = await view(page)
    assert.ok(Math.abs((narrower.v1 - narrower.v0) * 2 - (panned.v1 - panned.v0)) < 1, 'the + button halves the range')
    await page.locator('#zoom-reset').click()
    await afterDraw(page)
    assert.deepEqual(await view(page), whole)

    // Click the last hop's frame on the canvas: its async stack, hop by hop.
    await clickFrame(page, last)
    await page.locator(`body[data-selected="${last}"]`).waitFor()
    const hops = page.locator('#stack-panel [data-kind="frame"], #stack-panel [data-kind="root"]')
    assert.deepEqual(await hops.evaluateAll((els) => els.map((e) => e.getAttribute('data-site'))), expected)
    const kinds = await page.locator('#stack-panel [data-kind]').evaluateAll((els) => els.map((e) => e.getAttribute('data-kind')))
    assert.deepEqual(kinds, g.stack(last).map((s) => s.kind))
    // Every ready and link names the site and thread of the frame it points at.
    for (const s of g.stack(last)) {
      if (s.kind !== 'ready' && s.kind !== 'link') continue
      const text = await page.locator(`#stack-panel [data-kind="${s.kind}"][data-id="${s.id}"] .what`).textContent()
      const other = s.kind === 'ready' ? s.readyBy : s.frame
      if (other === 0) continue
      const f = g.frame(other)
      assert.ok(text.startsWith(`${s.kind} ${s.id} ${s.kind === 'ready' ? 'by' : 'in'} frame ${other} (${f.site}, thread ${f.thread}`), text)
    }
    assert.match(await page.locator('#stack-panel [data-kind="link"] pre').last().textContent(), /nativeChain/)
    assert.ok(await page.locator('#stack-graph rect').count() >= expected.length, 'the chain is drawn')
    // A hop of the stack selects that frame.
    const hop3 = g.frames().find((f) => f.site === 'hop:3').id
    await page.locator(`#stack-panel li[data-kind="frame"][data-id="${hop3}"]`).click()
    await page.locator(`body[data-selected="${hop3}"]`).waitFor()

    // Pending: the three leaked links are one group; clicking it shows it
    // and the chain of the frame they were linked in.
    const group = page.locator('#pending-groups tr.group-row[data-site="leak:q"]')
    assert.equal(await group.count(), 1)
    assert.equal(await group.getAttribute('data-count'), '3')
    await group.click()
    const intro = page.locator('#stack-panel .pending-intro')
    assert.match(await intro.locator('.what').textContent(), /^3 pending links at leak:q: linked, never made ready$/)
    assert.match(await intro.locator('.ids').textContent(), new RegExp(leaks.join(' ')))
    assert.match(await intro.locator('.meta').textContent(), /requested at the root \(frame 0\)/)

    // Pick one request: only its subtree is drawn.
    const before = (await page.evaluate(() => window.natReport.stats())).drawn
    await clickFrame(page, last)
    await page.locator('#only-request').click()
    await afterDraw(page)
    const rootFrame = g.stack(last).filter((s) => s.kind === 'frame').pop().id
    assert.equal(await page.locator('body').getAttribute('data-request'), String(rootFrame))
    const subtree = 6 // hop:start and its five hops
    const drawn = (await page.evaluate(() => window.natReport.stats())).drawn
    assert.ok(drawn >= 1 && drawn <= subtree && drawn < before, `${drawn} frames drawn for the request, ${before} before`)
    // All requests again, the whole trace: what was drawn before.
    await page.locator('#request-clear').click()
    await page.locator('#zoom-reset').click()
    await afterDraw(page)
    assert.equal(await page.locator('body').getAttribute('data-request'), '')
    assert.equal((await page.evaluate(() => window.natReport.stats())).drawn, before)

    // The hostile site name is text, not markup.
    assert.equal(await page.locator('img').count(), 0)
    assert.equal(await page.locator(`#site-table tbody tr td.site >> text="${EVIL_SITE}"`).count(), 1)
    await page.screenshot({ path: path.join(OUT, 'report.png'), fullPage: true })
    await close()
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

test('the pool view on a synthetic pool trace: lanes for pool threads, the verdict, the three waits per site', { skip: SKIP, timeout: 120_000 }, async () => {
  const { events } = syntheticPoolTrace({ requests: requestsFor(1000), leaks: 40 })
  const g = nat.graph(events)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nat-report-'))
  try {
    const { page, close } = await open(writeReport(dir, g, { title: 'pool' }))
    const labels = await page.evaluate(() => window.natReport.laneLabels())
    assert.deepEqual(labels.filter((l) => l.startsWith('pool thread')), ['pool thread 2', 'pool thread 3', 'pool thread 4', 'pool thread 5'])
    assert.equal(await page.locator('#pool-section').getAttribute('data-pool-size'), '4')
    const verdict = page.locator('#pool-verdict')
    assert.match(await verdict.getAttribute('data-level'), /^(small|busy|ok)$/)
    assert.match(await verdict.textContent(), /4 pool threads/)
    for (const site of ['mydb:query', 'fs:read', 'crypto:pbkdf2']) {
      const cells = await page.locator(`#pool-table tbody tr[data-site="${site}"] td`).allTextContents()
      assert.equal(cells.length, 9, `a row for ${site}`)
      assert.ok(cells.slice(2, 8).every((x) => /^\d+\.\d+$/.test(x)), `queue wait, pool run and loop wait of ${site}: ${cells}`)
    }
    // A pending group of the leaked cache lookups, clickable to the request that made the oldest.
    const group = page.locator('#pending-groups tr.group-row[data-site="cache:get"]')
    await group.click()
    const from = Number(await page.locator('body').getAttribute('data-selected') || 0)
    assert.equal(from, 0, 'a group does not pretend to be a frame selection')
    const first = g.pending().find((p) => p.site === 'cache:get')
    assert.equal(await page.locator(`#stack-panel li.current[data-id="${first.frame}"]`).count(), 1, 'the chain of the frame that linked the oldest one')
    await page.screenshot({ path: path.join(OUT, 'report-pool.png'), fullPage: true })
    await close()
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

test('the pool view on a real zero-code trace: bcrypt hashes on the libuv pool, lanes and the three waits for its site; screenshot', { skip: SKIP, timeout: 180_000 }, async (t) => {
  const why = ensure('bcrypt')
  if (why !== null) return t.skip(`bcrypt is not available here: ${why}`)
  // An unmodified bcrypt in a fresh process with zero-code tracing on:
  // 8 hashes at cost 4 at once, more than the default 4 pool threads, so
  // some wait in the queue. The salt is made up front (with rounds, bcrypt
  // first runs crypto.randomBytes on the pool, outside any addon).
  const { result } = scenario(`
    const bcrypt = require('bcrypt')
    const salt = bcrypt.genSaltSync(4)
    const hashes = await Promise.all(Array.from({ length: 8 }, (_, i) =>
      new Promise((resolve, reject) => bcrypt.hash('pw-' + i, salt, (err, h) => err ? reject(err) : resolve(h)))))
    await new Promise((r) => setImmediate(r))
    done({ hashes: hashes.length, events: events() })`)
  assert.equal(result.hashes, 8)
  const g = nat.graph(result.events)
  const SITE = 'bcrypt:EncryptAsyncWorker'
  // The pool frames, found in Node as the report defines them (lib/report/pool.js).
  const poolFrames = g.frames().filter((f) => {
    const r = f.readyID ? g.node(f.readyID) : null
    const l = r && r.linkID ? g.node(r.linkID) : null
    return f.site === SITE && r !== null && l !== null && r.thread === f.thread && l.thread !== f.thread
  })
  assert.equal(poolFrames.length, 8, 'a pool frame per hash')
  const threads = [...new Set(poolFrames.map((f) => f.thread))].sort((a, b) => a - b)

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nat-report-bcrypt-'))
  try {
    const { page, close } = await open(writeReport(dir, g, { title: 'bcrypt on the pool' }))
    // A lane per pool thread that ran a hash, labelled as a pool thread.
    const labels = await page.evaluate(() => window.natReport.laneLabels())
    const poolLanes = labels.map((l) => /^pool thread (\d+)\b/.exec(l)).filter(Boolean).map((m) => Number(m[1]))
    assert.deepEqual(poolLanes, threads, `pool lanes: ${labels}`)
    // Each pool frame is drawn; clicking one names its site and its pool thread.
    for (const f of poolFrames) assert.ok(await page.evaluate((id) => window.natReport.frameBox(id), f.id), `frame ${f.id} is drawn`)
    const f0 = poolFrames[0]
    await clickFrame(page, f0.id)
    const current = await page.locator(`#stack-panel li.current[data-id="${f0.id}"]`).textContent()
    assert.match(current, new RegExp(`thread ${f0.thread}\\b`))
    assert.ok(current.includes(SITE), current)
    // The pool view: at least as many pool threads as ran hashes, and the
    // row for bcrypt's site with its 8 items and the three waits.
    assert.ok(Number(await page.locator('#pool-section').getAttribute('data-pool-size')) >= threads.length)
    const cells = await page.locator(`#pool-table tbody tr[data-site="${SITE}"] td`).allTextContents()
    assert.equal(cells.length, 9, `a row for ${SITE}: ${cells}`)
    assert.equal(cells[1], '8')
    assert.ok(cells.slice(2, 8).every((x) => /^\d+\.\d+$/.test(x)), `queue wait, pool run and loop wait of ${SITE}: ${cells}`)
    assert.ok(Number(cells[4]) > 0, `a hash at cost 4 takes pool time: ${cells}`)
    await page.screenshot({ path: path.join(OUT, 'report-bcrypt-pool.png'), fullPage: true })
    await close()
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

test('the demo\'s report: header counts are the console\'s; screenshot', { skip: SKIP, timeout: 180_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nat-demo-'))
  try {
    const r = spawnSync(process.execPath, [path.join(root, 'examples', 'demo.js')], { cwd: root, encoding: 'utf8', env: { ...process.env, NAT_DEMO_OUT: dir } })
    assert.equal(r.status, 0, r.stderr)
    const pending = Number(/^pending: (\d+)$/m.exec(r.stdout)[1])
    const table = r.stdout.split('== per site')[1].split('\n\n')[0].trim().split('\n').slice(2) // title and header lines
    const { page, close } = await open(path.join(dir, 'report.html'))
    assert.equal(Number(await page.locator('#total-pending dd').textContent()), pending)
    assert.equal(Number(await page.locator('#total-sites dd').textContent()), table.length)
    // The hasher's own worker threads make its results ready: no pool
    // frames, but per site the time to ready and the loop wait.
    const hash = await page.locator('#offthread-table tbody tr[data-site="hash:sha256"] td').allTextContents()
    assert.equal(hash[1], '12', `12 hashes: ${hash}`)
    assert.equal(hash[2], '2', 'on the hasher\'s two threads')
    assert.ok(hash.slice(3).every((x) => /^\d+\.\d+$/.test(x)), `queued + ran and loop wait: ${hash}`)
    await page.screenshot({ path: path.join(OUT, 'report-demo.png'), fullPage: true })
    await close()
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

test('a 250k-frame synthetic trace loads, zooms and selects; screenshot', { skip: SKIP, timeout: 600_000 }, async () => {
  const { events, frames } = syntheticPoolTrace({ requests: requestsFor(250_000), leaks: 50 })
  assert.ok(frames >= 249_000 && frames <= 251_000, `${frames} frames`)
  const g = nat.graph(events)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nat-report-'))
  try {
    const file = writeReport(dir, g, { title: `${frames} frames (synthetic)` })
    const { page, close } = await open(file)
    assert.equal(await page.evaluate(() => window.natReport.frames), frames, 'every frame is embedded')
    const stats = await page.evaluate(() => window.natReport.stats())
    assert.ok(stats.drawn < 20 * stats.width, `${stats.drawn} marks drawn for ${frames} frames: merged per pixel`)
    for (let i = 0; i < 14; i++) await page.locator('#zoom-in').click() // a few ms wide: JS frames are pixels wide
    await afterDraw(page)
    const v = await view(page)
    // The first frame on the JS thread past the middle of the view: on screen.
    const mid = (v.v0 + v.v1) / 2 + g.firstTs
    const f = g.frames().filter((x) => x.thread === 1 && x.begin >= mid).sort((a, b) => a.begin - b.begin)[0]
    assert.ok(f.end < v.v1 + g.firstTs, 'it ends inside the view')
    assert.ok((await page.evaluate((id) => window.natReport.frameBox(id), f.id)).w >= 3, 'wide enough to aim at')
    await clickFrame(page, f.id)
    await page.locator(`body[data-selected="${f.id}"]`).waitFor()
    assert.equal(await page.locator('#stack-panel li.current').getAttribute('data-id'), String(f.id))
    await page.screenshot({ path: path.join(OUT, 'report-250k.png'), fullPage: false })
    await close()
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

test('edge cases load without script errors: an empty graph, frames without times, a cut to maxFrames', { skip: SKIP, timeout: 120_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nat-report-'))
  try {
    // Empty.
    let { page, close } = await open(writeReport(dir, nat.graph([]), {}))
    assert.equal(await page.evaluate(() => window.natReport.frames), 0)
    assert.equal(await page.locator('#timeline-note').textContent(), 'No frames in this trace.')
    assert.equal(await page.locator('#pending-groups tbody td.empty').textContent(), 'Nothing pending.')
    await close()
    // The seed format: no timestamps, stacks intact.
    const seed = [
      { event: 'link', executeID: 0, linkID: 1 }, { event: 'link', executeID: 0, linkID: 2 },
      { event: 'ready', executeID: 0, linkID: 1, readyID: 3 }, { event: 'executionBegin', executeID: 4, readyID: 3 },
      { event: 'ready', executeID: 4, linkID: 2, readyID: 5 }, { event: 'executionEnd', executeID: 4 },
      { event: 'executionBegin', executeID: 6, readyID: 5 }, { event: 'executionEnd', executeID: 6 }
    ];
    ({ page, close } = await open(writeReport(dir, nat.graph(seed), {})))
    assert.match(await page.locator('#timeline-note').textContent(), /^2 frame\(s\) have no timestamps/)
    await page.evaluate(() => { location.hash = '#frame=6' })
    await page.reload()
    await page.locator('body[data-selected="6"]').waitFor()
    assert.deepEqual(await page.locator('#stack-panel [data-kind]').evaluateAll((els) => els.map((e) => e.getAttribute('data-kind'))),
      nat.graph(seed).stack(6).map((x) => x.kind))
    await close()
    // Cut to 50 frames of a synthetic trace: the pending group's requester
    // may be left out; the pool figures still cover every frame.
    const { events } = syntheticPoolTrace({ requests: 30, leaks: 1 })
    const g = nat.graph(events);
    ({ page, close } = await open(writeReport(dir, g, { maxFrames: 50 })))
    assert.equal(await page.evaluate(() => window.natReport.frames), 50)
    assert.match(await page.locator('#frames-omitted').textContent(), new RegExp(`^${g.frames().length - 50} of ${g.frames().length} frames left out`))
    const items = (await page.locator('#pool-table tbody td:nth-child(2)').allTextContents()).reduce((n, x) => n + Number(x.split(' ')[0]), 0)
    assert.equal(items, 90, 'every pool frame counted')
    await page.locator('#pending-groups tr.group-row').first().click()
    assert.equal(await page.locator('#stack-panel .pending-intro').count(), 1)
    await close()
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})
