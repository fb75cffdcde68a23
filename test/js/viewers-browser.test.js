'use strict'
// The exports in a third-party viewer: speedscope (the npm package's static
// build, served from disk by a loopback HTTP server in this test) opens the
// Chrome export of a native chain plus a Worker's frame, under every file
// name the README and the CLI suggest for it (speedscope picks its importer
// from the file name: `trace.chrome.json` once chose one that crashed), and
// the CLI's `folded` output; and Chromium's DevTools Performance panel
// opens the Chrome export. Driven in Debian's chromium through
// playwright-core; every request outside the loopback server is blocked.
// Nothing here is timed.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const http = require('node:http')
const { spawnSync } = require('node:child_process')
const { Worker } = require('node:worker_threads')
const { root, loadConsumer, nativeChain } = require('./helpers')

const CHROMIUM = '/usr/bin/chromium'
const SPEEDSCOPE = path.join(root, 'node_modules', 'speedscope', 'dist', 'release')
const SKIP = !fs.existsSync(CHROMIUM)
  ? 'chromium not installed: apt-get install chromium'
  : !fs.existsSync(path.join(SPEEDSCOPE, 'index.html')) ? 'speedscope not installed: npm install' : false
const CLI = path.join(root, 'bin', 'napi-async-trace.js')

const nat = require(root)

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm', '.png': 'image/png' }

// The loopback server: speedscope's files from disk, and the files under
// test from `served` (name -> text) at /files/<name>.
const served = new Map()
let server = null
let base = ''
let browser = null
test.before(async () => {
  if (SKIP) return
  server = http.createServer((req, res) => {
    const p = decodeURIComponent(new URL(req.url, 'http://loopback').pathname)
    if (p.startsWith('/files/') && served.has(p.slice(7))) {
      res.setHeader('content-type', 'application/octet-stream')
      return res.end(served.get(p.slice(7)))
    }
    const file = path.join(SPEEDSCOPE, path.normalize(p === '/' ? '/index.html' : p))
    if (!file.startsWith(SPEEDSCOPE + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.statusCode = 404
      return res.end()
    }
    res.setHeader('content-type', TYPES[path.extname(file)] || 'application/octet-stream')
    res.end(fs.readFileSync(file))
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${server.address().port}`
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
})
test.after(async () => {
  if (browser) await browser.close()
  if (server) server.close()
})

// Opens speedscope on /files/<name> (its importer sees that name: it takes
// the last segment of the profile URL) in the sandwich view, whose table of
// frame names is DOM text, and waits until the import either succeeded
// (speedscope sets the document title) or failed (its error text).
async function openSpeedscope (name) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
  const external = []
  await context.route('**/*', (route) => {
    const url = route.request().url()
    if (url.startsWith(base + '/')) return route.continue()
    external.push(url)
    return route.abort()
  })
  const page = await context.newPage()
  const errors = []
  const dialogs = []
  page.on('pageerror', (err) => errors.push(String(err)))
  page.on('console', (msg) => { if (msg.type() === 'error') errors.push(msg.text()) })
  page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss() })
  const profileURL = `${base}/files/${encodeURIComponent(name)}`
  await page.goto(`${base}/index.html#profileURL=${encodeURIComponent(profileURL)}&title=${encodeURIComponent(name)}&view=sandwich`)
  await page.waitForFunction(() => document.title.endsWith(' - speedscope') ||
    document.body.innerText.includes('Something went wrong') || document.body.innerText.includes('Unrecognized format'),
  null, { timeout: 120_000 })
  const text = await page.evaluate(() => document.body.innerText)
  assert.ok(!/Something went wrong|Unrecognized format/.test(text), `speedscope failed to import ${name}:\n${text}\n${errors.join('\n')}`)
  assert.deepEqual(dialogs, [], `no alert importing ${name}`)
  assert.equal(await page.title(), `${name} - speedscope`)
  return {
    page,
    text: () => page.evaluate(() => document.body.innerText),
    async close () {
      assert.deepEqual(external, [], 'no request left the loopback server')
      assert.deepEqual(errors, [], 'no script errors')
      assert.deepEqual(dialogs, [])
      await context.close()
    }
  }
}

// Every file name the README and the CLI's help suggest for the Chrome export.
function suggestedChromeNames () {
  const names = new Set()
  for (const f of [path.join(root, 'README.md'), CLI]) {
    for (const m of fs.readFileSync(f, 'utf8').matchAll(/[A-Za-z0-9_.-]*chrome[A-Za-z0-9_.-]*\.json/g)) names.add(m[0])
  }
  return [...names]
}

// A frame on a Worker's thread (its own env), so the trace has slices on
// two threads.
function workerFrame (site) {
  const code = `const nat = require(${JSON.stringify(root)})
    const f = nat.marks.begin(nat.marks.site(${JSON.stringify(site)}), 0)
    let x = 0
    for (let i = 0; i < 1e5; i++) x += i
    nat.marks.end(f)`
  return new Promise((resolve, reject) => {
    const w = new Worker(code, { eval: true })
    w.on('error', reject)
    w.on('exit', (c) => (c === 0 ? resolve() : reject(new Error(`worker exit ${c}`))))
  })
}

test('speedscope imports the Chrome export under every suggested name, one profile per thread with slices', { skip: SKIP }, async () => {
  const names = suggestedChromeNames()
  assert.ok(names.includes('trace-chrome.json'), `the CLI's name is among ${names}`)
  const c = loadConsumer()
  nat.enable({ stacks: true })
  nat.drain()
  await nativeChain(c, 3, 'view')
  await workerFrame('view:worker')
  const g = nat.graph(nat.drain())
  nat.disable()
  const trace = g.toChromeTrace()
  // speedscope makes one profile per (pid, tid) with slices.
  const threads = new Set(trace.traceEvents.filter((e) => e.ph === 'X').map((e) => `${e.pid}:${e.tid}`))
  assert.equal(threads.size, 2, 'slices on the main thread and on the Worker')
  const body = JSON.stringify(trace)
  for (const name of names) {
    served.set(name, body)
    const v = await openSpeedscope(name)
    try {
      // The toolbar says which of how many profiles is shown; its selector
      // (on hover) lists one row per profile.
      const bar = v.page.getByText(new RegExp(`\\(1/${threads.size}\\)`))
      await bar.waitFor()
      await bar.hover()
      const rows = () => v.text().then((t) => t.split('\n').filter((l) => new RegExp(`^\\d+\\t${name.replace(/\./g, '\\.')}\\t`).test(l)))
      await v.page.waitForFunction(() => document.body.innerText.includes('#\tName'))
      assert.equal((await rows()).length, threads.size, `one selector row per thread:\n${await v.text()}`)
      // The sandwich table of the first profile (the main thread's) names
      // every frame of the chain; the second profile holds the Worker's.
      const sites = (t) => new Set([...t.matchAll(/^\t?(view:[a-z0-9]+)\b/gm)].map((m) => m[1]))
      const first = sites(await v.text())
      const second = new Set()
      await v.page.getByText(/^2$/).first().click()
      await v.page.waitForFunction(() => document.body.innerText.includes('(2/'))
      for (const s of sites(await v.text())) second.add(s)
      const both = [...first].sort().join(' ') + ' | ' + [...second].sort().join(' ')
      assert.ok(
        both === 'view:1 view:2 view:3 view:start | view:worker' || both === 'view:worker | view:1 view:2 view:3 view:start',
        `profiles: ${both}`)
    } finally {
      await v.close()
    }
  }
})

test('speedscope imports the CLI\'s folded stacks and g.toFolded(), hops named by function and file:line', { skip: SKIP }, async () => {
  const c = loadConsumer()
  nat.enable({ stacks: true })
  nat.drain()
  await nativeChain(c, 3, 'fold')
  const batch = nat.drain()
  const g = nat.graph(batch)
  nat.disable()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nat-viewers-'))
  try {
    const tracePath = path.join(dir, 'trace.nat')
    nat.writeTrace(tracePath, batch)
    const out = path.join(dir, 'trace.folded')
    const r = spawnSync(process.execPath, [CLI, 'folded', tracePath, '-o', out], { encoding: 'utf8' })
    assert.equal(r.status, 0, r.stderr)
    served.set('trace.folded', fs.readFileSync(out, 'utf8'))
    served.set('graph.folded', g.toFolded())
    for (const name of ['trace.folded', 'graph.folded']) {
      const v = await openSpeedscope(name)
      try {
        // The sandwich table lists every step of the chain; hops linked
        // from JS carry `fn (helpers.js:line)`.
        const text = await v.text()
        for (const hop of ['fold:1', 'fold:2', 'fold:3']) {
          assert.match(text, new RegExp(`^\\t?${hop} .+ \\(helpers\\.js:\\d+\\)$`, 'm'), `${name}: ${hop} with its linking frame in\n${text}`)
        }
        assert.match(text, /^\t?fold:start$/m)
      } finally {
        await v.close()
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

// Chromium's own DevTools frontend (bundled in the browser, served from
// devtools://) with the Chrome export loaded into its Performance panel.
// The panel draws on a canvas, so the test reads the track list from the
// panel's flame chart data provider: an internal of this Chromium's
// DevTools, not a stable API (a Chromium upgrade may need this updated; it
// fails then, it does not pass).
test('Chromium DevTools\' Performance panel shows one track per thread with slices', { skip: SKIP }, async () => {
  const c = loadConsumer()
  nat.enable({ stacks: true })
  nat.drain()
  await nativeChain(c, 3, 'devtools')
  await workerFrame('devtools:worker')
  const g = nat.graph(nat.drain())
  nat.disable()
  const trace = g.toChromeTrace()
  const threadName = new Map(trace.traceEvents.filter((e) => e.ph === 'M' && e.name === 'thread_name')
    .map((e) => [`${e.pid}:${e.tid}`, e.args.name]))
  const sliced = [...new Set(trace.traceEvents.filter((e) => e.ph === 'X').map((e) => `${e.pid}:${e.tid}`))]
  assert.equal(sliced.length, 2, 'slices on the main thread and on the Worker')
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } })
  try {
    const page = await context.newPage()
    await page.goto('devtools://devtools/bundled/trace_app.html')
    // The frontend initialises asynchronously (its locale data first): its
    // first localised text says the app UI is up.
    await page.waitForFunction(() => document.body !== null && document.body.innerText.includes('DevTools'), null, { timeout: 120_000 })
    await page.evaluate(async (body) => {
      const UI = await import('devtools://devtools/bundled/ui/legacy/legacy.js')
      await UI.ViewManager.ViewManager.instance().showView('timeline')
      const T = await import('devtools://devtools/bundled/panels/timeline/timeline.js')
      await T.TimelinePanel.TimelinePanel.instance().loadFromFile(new File([body], 'trace-chrome.json', { type: 'application/json' }))
    }, JSON.stringify(trace))
    // The panel parses the file asynchronously: poll its track list (a
    // generous bound turns a hang into a failure; nothing is timed).
    let groups = []
    for (let i = 0; i < 1200 && groups.length === 0; i++) {
      if (i > 0) await page.waitForTimeout(100)
      groups = await page.evaluate(async () => {
        const T = await import('devtools://devtools/bundled/panels/timeline/timeline.js')
        const data = T.TimelinePanel.TimelinePanel.instance().flameChart.getMainDataProvider().timelineData()
        return data && data.groups ? data.groups.map((x) => x.name) : []
      })
    }
    // Process headers are "env N ... (pid)", threads "thread T (tid)".
    const tracks = groups.filter((n) => /^thread \d+ \(\d+\)$/.test(n)).sort()
    const expected = sliced.map((k) => `${threadName.get(k)} (${k.split(':')[1]})`).sort()
    assert.deepEqual(tracks, expected, `tracks: ${JSON.stringify(groups)}`)
  } finally {
    await context.close()
  }
})
