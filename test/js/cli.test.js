'use strict'
// The CLI: record, stacks, report, chrome, folded, dot; errors and signals.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn, spawnSync } = require('node:child_process')
const { root, buildConsumer } = require('./helpers')

const cli = path.join(root, 'bin', 'napi-async-trace.js')
const app = path.join(root, 'test', 'fixtures', 'cli', 'app.js')
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nat-cli-'))
const trace = path.join(dir, 'trace.json')
buildConsumer()
test.after(() => fs.rmSync(dir, { recursive: true, force: true }))

function run (...args) {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: dir, encoding: 'utf8' })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

// A structural check of the Trace Event Format (JSON object form), as
// documented in "Trace Event Format" (Google) and read by Perfetto.
function checkChromeTrace (t) {
  assert.equal(typeof t, 'object')
  assert.ok(Array.isArray(t.traceEvents), 'traceEvents is an array')
  const phases = new Set(['X', 'B', 'E', 'i', 'I', 's', 't', 'f', 'M', 'C', 'b', 'e', 'n'])
  const flows = new Map()
  const slices = []
  for (const e of t.traceEvents) {
    assert.equal(typeof e.name, 'string', JSON.stringify(e))
    assert.ok(phases.has(e.ph), `phase ${e.ph}`)
    assert.ok(Number.isInteger(e.pid) && Number.isInteger(e.tid), 'integer pid and tid')
    if (e.ph === 'M') {
      assert.ok(['process_name', 'thread_name'].includes(e.name))
      assert.equal(typeof e.args.name, 'string')
      continue
    }
    assert.ok(typeof e.ts === 'number' && Number.isFinite(e.ts) && e.ts >= 0, `ts of ${JSON.stringify(e)}`)
    if (e.args !== undefined) assert.equal(typeof e.args, 'object')
    if (e.ph === 'X') {
      assert.ok(typeof e.dur === 'number' && e.dur >= 0)
      slices.push(e)
    }
    if (e.ph === 'i') assert.ok(['g', 'p', 't'].includes(e.s))
    if (e.ph === 's' || e.ph === 'f') {
      assert.ok(e.id !== undefined && typeof e.cat === 'string')
      const f = flows.get(e.id) || {}
      assert.equal(f[e.ph], undefined, `one ${e.ph} per flow id`)
      f[e.ph] = e
      flows.set(e.id, f)
    }
  }
  for (const [id, f] of flows) {
    assert.ok(f.s && f.f, `flow ${id} has both ends`)
    assert.equal(f.s.cat, f.f.cat)
    assert.ok(f.s.ts <= f.f.ts, 'a flow goes forward in time')
    // The end binds to the frame's slice: a slice on its thread begins there.
    assert.ok(slices.some((x) => x.pid === f.f.pid && x.tid === f.f.tid && x.ts === f.f.ts), `flow ${id} ends on a slice`)
    // The start binds to the slice around it on its thread (issue 15: the
    // root frame's links had none).
    assert.ok(slices.some((x) => x.pid === f.s.pid && x.tid === f.s.tid && x.ts <= f.s.ts && f.s.ts <= x.ts + x.dur), `flow ${id} starts on a slice`)
  }
  return { slices, flows }
}

test('record writes a trace of the program, with a summary on stderr', () => {
  const r = run('record', '-o', trace, '--stacks', '--', process.execPath, app)
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stderr, /recording `.*app\.js` into/)
  assert.match(r.stderr, /wrote .*trace\.json \([\d.]+ kB\): \d+ events, 3 frames, 1 sites, 0 pending, 0 lost; program exit status 0/)
  const t = JSON.parse(fs.readFileSync(trace, 'utf8'))
  assert.equal(t.format, 'napi-async-trace')
  assert.equal(t.formatVersion, 1)
  const frames = t.events.filter((e) => e.event === 'executionBegin' && e.site === 'cliapp:hop')
  assert.equal(frames.length, 3)
  assert.ok(Object.values(t.stacks).some((s) => /at leaveOneBehind/.test(s)), 'link stacks are in the file')
})

test('stacks prints the slowest frames\' async stacks', () => {
  const r = run('stacks', trace, '--slowest', '3')
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stdout, /# the 3 slowest frame\(s\) of 3/)
  assert.match(r.stdout, /frame \d+ {2}cliapp:hop[\s\S]*<- link \d+ in frame \d+[\s\S]*root \(frame 0\)/)
  assert.match(r.stdout, /# pending: 0/)
  assert.equal(run('stacks', trace, '--slowest', 'x').status, 2)
})

test('chrome writes the Trace Event Format: slices per thread, flows link -> frame', () => {
  const out = path.join(dir, 'chrome.json')
  const r = run('chrome', trace, '-o', out)
  assert.equal(r.status, 0, r.stderr)
  const { slices, flows } = checkChromeTrace(JSON.parse(fs.readFileSync(out, 'utf8')))
  assert.equal(slices.filter((s) => s.name === 'cliapp:hop').length, 3)
  assert.equal(flows.size, 3)
})

test('report writes the HTML report', () => {
  const out = path.join(dir, 'report.html')
  const r = run('report', trace, '-o', out)
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stderr, /wrote the report to .*report\.html/)
  const html = fs.readFileSync(out, 'utf8')
  assert.match(html, /^<!doctype html>/i)
  assert.match(html, /cliapp:hop/)
  assert.doesNotMatch(html, /https?:/)
})

test('folded and dot', () => {
  const f = run('folded', trace)
  assert.equal(f.status, 0, f.stderr)
  const lines = f.stdout.trim().split('\n')
  for (const l of lines) assert.match(l, /^root(;[^;]+)* \d+$/)
  // Each step names the site and the function and file:line that asked for
  // the work (the trace has link stacks): the timer, then the callback.
  assert.ok(lines.some((l) => /^root;cliapp:hop Timeout\._onTimeout \(app\.js:23\);cliapp:hop [^;]*\(app\.js:13\);cliapp:hop [^;]*\(app\.js:13\) \d+$/.test(l)), f.stdout)
  assert.match(f.stderr, /weights: µs of frame run time/)
  const d = run('dot', trace)
  assert.equal(d.status, 0, d.stderr)
  assert.match(d.stdout, /^digraph async \{/)
  assert.match(d.stdout, /label="cliapp:hop"/)
  assert.equal((d.stdout.match(/ -> /g) || []).length, 3)
})

test('clear errors: missing file, bad JSON, not a trace, bad usage', () => {
  let r = run('stacks', path.join(dir, 'nope.json'))
  assert.equal(r.status, 1)
  assert.match(r.stderr, /cannot read .*nope\.json: no such file/)
  fs.writeFileSync(path.join(dir, 'bad.json'), '{"events": [')
  r = run('report', path.join(dir, 'bad.json'))
  assert.equal(r.status, 1)
  assert.match(r.stderr, /bad\.json is not valid JSON/)
  fs.writeFileSync(path.join(dir, 'chrome-in.json'), '{"traceEvents": []}')
  r = run('folded', path.join(dir, 'chrome-in.json'))
  assert.equal(r.status, 1)
  assert.match(r.stderr, /looks like a Chrome trace/)
  fs.writeFileSync(path.join(dir, 'junk.json'), '{"events": [{"event": "link", "linkID": -4}]}')
  r = run('dot', path.join(dir, 'junk.json'))
  assert.equal(r.status, 1)
  assert.match(r.stderr, /linkID/)
  for (const args of [[], ['frob'], ['record', 'node'], ['record', '--bogus', '--', 'node'], ['stacks']]) {
    r = run(...args)
    assert.equal(r.status, 2, args.join(' '))
    assert.match(r.stderr, /usage:/)
  }
  r = run('record', '-o', path.join(dir, 'x.json'), '--', path.join(dir, 'no-such-program'))
  assert.equal(r.status, 1)
  assert.match(r.stderr, /command not found/)
})

test('record writes the trace when the program is interrupted (SIGINT)', async () => {
  const out = path.join(dir, 'int.json')
  const child = spawn(process.execPath, [cli, 'record', '-o', out, '--', process.execPath, app, 'forever'],
    { cwd: dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d) => { stderr += d })
  await new Promise((resolve) => child.stdout.on('data', (d) => { if (String(d).includes('ready')) resolve() }))
  process.kill(-child.pid, 'SIGINT') // the whole group, as a terminal's Ctrl-C
  const status = await new Promise((resolve) => child.once('exit', (code) => resolve(code)))
  assert.equal(status, 130, stderr)
  assert.match(stderr, /program exit status 130/)
  const t = JSON.parse(fs.readFileSync(out, 'utf8'))
  assert.equal(t.events.filter((e) => e.event === 'executionBegin' && e.site === 'cliapp:hop').length, 3)
})

test('record traces the program it runs, not the Node processes that program starts', () => {
  const launcher = path.join(dir, 'launcher.js')
  fs.writeFileSync(launcher, `
    const { spawnSync } = require('node:child_process')
    const r = spawnSync(process.execPath, [${JSON.stringify(app)}], { stdio: 'inherit' })
    process.exitCode = r.status
  `)
  const out = path.join(dir, 'launcher.json')
  const r = run('record', '-o', out, '--', process.execPath, launcher)
  assert.equal(r.status, 0, r.stderr)
  const t = JSON.parse(fs.readFileSync(out, 'utf8'))
  assert.match(t.argv[0], /launcher\.js$/, 'the launcher wrote the trace; its child did not overwrite it')
})
