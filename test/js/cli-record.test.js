'use strict'
// The CLI's recording (issue 15): the stream trace while the program runs,
// kill -9, signals, exit status, -o safety, following child processes and
// Workers, consumers next to the program's own drain(), --help, and the
// read-only commands without the native addon.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn, spawnSync } = require('node:child_process')
const { root } = require('./helpers')

const cli = path.join(root, 'bin', 'napi-async-trace.js')
const marks = path.join(root, 'test', 'fixtures', 'cli', 'marks.js')
const noAddon = path.join(root, 'test', 'fixtures', 'cli', 'no-addon.js')
const stream = require(path.join(root, 'lib', 'trace-stream'))
const { scanTrace, loadGraph } = require(path.join(root, 'lib', 'trace-load'))
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nat-cli-rec-'))
test.after(() => fs.rmSync(dir, { recursive: true, force: true }))

function run (args, { nodeArgs = [], env = {} } = {}) {
  // Not as a child of this test runner: a nested `node --test` would run
  // its files differently.
  const base = { ...process.env }
  delete base.NODE_TEST_CONTEXT
  const r = spawnSync(process.execPath, [...nodeArgs, cli, ...args], { cwd: dir, encoding: 'utf8', env: { ...base, ...env } })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

function framesOf (file, site) {
  const { graph } = loadGraph(file)
  return graph.sites().filter((s) => s.site === site).reduce((a, s) => a + s.frames, 0)
}

test('every command has --help that explains each of its options', () => {
  const expect = {
    record: ['--output', '--stacks', '--stack-limit', '--js', '--capacity', '--limit', '--no-compress', '--no-follow', '--no-addons', '--help'],
    report: ['--output', '--max-events'],
    stacks: ['--slowest', '--pending', '--sites'],
    chrome: ['--output', '--max-events'],
    folded: ['--output', 'microseconds'],
    dot: ['--output'],
    json: ['--output']
  }
  for (const [cmd, opts] of Object.entries(expect)) {
    const r = run([cmd, '--help'])
    assert.equal(r.status, 0, `${cmd} --help: ${r.stderr}`)
    assert.match(r.stdout, new RegExp(`^usage: napi-async-trace ${cmd}`))
    for (const o of opts) assert.ok(r.stdout.includes(o), `${cmd} --help names ${o}`)
    assert.equal(run(['help', cmd]).stdout, r.stdout)
  }
  const bad = run(['stacks', '--frob', 'x'])
  assert.equal(bad.status, 2)
  assert.match(bad.stderr, /usage: napi-async-trace stacks/, 'a usage error prints that command\'s help')
})

test('record writes a stream trace; the read-only commands run with the native addon unloadable', () => {
  const out = path.join(dir, 'plain.nat')
  const r = run(['record', '-o', out, '--stacks', '--', process.execPath, marks, '{"n":20}'])
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stderr, /wrote .*plain\.nat \([\d.]+ kB\): \d+ events, 40 frames, 1 sites, 0 pending, 0 lost; program exit status 0/)
  assert.ok(stream.isStreamFile(out))
  const scan = scanTrace(out)
  assert.equal(scan.files.length, 1)
  assert.match(scan.files[0].end.reason, /^exit 0/)
  assert.equal(scan.files[0].end.recorder.lost, 0)
  // The preload that blocks addons works: loading the package fails there.
  const blocked = spawnSync(process.execPath, ['-r', noAddon, '-e', `require(${JSON.stringify(root)})`], { encoding: 'utf8' })
  assert.notEqual(blocked.status, 0)
  assert.match(blocked.stderr, /native addon blocked/)
  const nodeArgs = ['-r', noAddon]
  let x = run(['stacks', out], { nodeArgs })
  assert.equal(x.status, 0, x.stderr)
  assert.match(x.stdout, /# the 5 slowest frame\(s\) of 40/)
  assert.match(x.stdout, /# sites \(1\)/)
  x = run(['folded', out], { nodeArgs })
  assert.equal(x.status, 0, x.stderr)
  assert.match(x.stdout, /^root;marks:main chains \(marks\.js:\d+\)/m, 'folded names the function and file:line that linked')
  for (const cmd of ['report', 'chrome', 'dot', 'json']) {
    const o = path.join(dir, `plain.${cmd}`)
    x = run([cmd, out, '-o', o], { nodeArgs })
    assert.equal(x.status, 0, `${cmd}: ${x.stderr}`)
    assert.ok(fs.statSync(o).size > 0)
  }
  const j = JSON.parse(fs.readFileSync(path.join(dir, 'plain.json'), 'utf8'))
  assert.equal(j.events.filter((e) => e.event === 'executionBegin' && e.site === 'marks:main').length, 40)
})

test('kill -9 of the program leaves a trace readable up to its last complete chunk', async () => {
  const out = path.join(dir, 'killed.nat')
  const child = spawn(process.execPath, [cli, 'record', '-o', out, '--', process.execPath, marks, '{"forever":true}'],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d) => { stderr += d })
  await new Promise((resolve) => child.stdout.on('data', (d) => { if (String(d).includes('ready')) resolve() }))
  // Wait until some chunks are on disk, then kill at an arbitrary moment.
  let scan
  for (;;) {
    scan = fs.existsSync(out) ? scanTrace(out) : { events: 0 }
    if (scan.events > 200) break
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  await new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 50)))
  process.kill(scan.files[0].meta.pid, 'SIGKILL')
  const status = await new Promise((resolve) => child.once('exit', (code) => resolve(code)))
  assert.equal(status, 137, stderr)
  assert.match(stderr, /program exit status 137/)
  const after = scanTrace(out)
  assert.equal(after.files[0].end, null, 'no END chunk: the program was killed')
  assert.ok(after.events >= scan.events)
  const r = run(['stacks', out])
  assert.equal(r.status, 0, r.stderr)
  assert.ok(framesOf(out, 'marks:main') >= 20)
})

test('the program\'s exit status is kept; -o replaces only a regular file', () => {
  const out = path.join(dir, 'status.nat')
  let r = run(['record', '-o', out, '--', process.execPath, marks, '{"status":3}'])
  assert.equal(r.status, 3, r.stderr)
  assert.match(r.stderr, /program exit status 3/)
  // A program that is not Node: its status, and what really happened.
  r = run(['record', '-o', out, '--', '/bin/sh', '-c', 'exit 4'])
  assert.equal(r.status, 4)
  assert.match(r.stderr, /no Node\.js process of it was recorded/)
  for (const [target, kind] of [['/dev/null', /a device/], [dir, /a directory/]]) {
    r = run(['record', '-o', target, '--', process.execPath, marks])
    assert.equal(r.status, 1)
    assert.match(r.stderr, new RegExp(`refusing to replace ${target}: it is ${kind.source}`))
  }
  assert.ok(fs.statSync('/dev/null').isCharacterDevice(), '/dev/null is still a device')
  const link = path.join(dir, 'link.nat')
  fs.symlinkSync(out, link)
  r = run(['record', '-o', link, '--', process.execPath, marks])
  assert.equal(r.status, 1)
  assert.match(r.stderr, /it is a symbolic link/)
  r = run(['stacks', marks, '-o', '/dev/null'])
  assert.equal(r.status, 2, 'stacks has no -o')
})

for (const sig of ['SIGHUP', 'SIGQUIT', 'SIGTERM']) {
  test(`${sig} to record finishes the trace and the program ends by it`, async () => {
    const out = path.join(dir, `${sig}.nat`)
    const child = spawn(process.execPath, [cli, 'record', '-o', out, '--', process.execPath, marks, '{"forever":true}'],
      { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (d) => { stderr += d })
    await new Promise((resolve) => child.stdout.on('data', (d) => { if (String(d).includes('ready')) resolve() }))
    child.kill(sig) // to record only: it passes the signal on
    const status = await new Promise((resolve) => child.once('exit', (code) => resolve(code)))
    assert.equal(status, 128 + os.constants.signals[sig], stderr)
    const scan = scanTrace(out)
    assert.equal(scan.files[0].end.reason, `signal ${sig}`)
    assert.ok(framesOf(out, 'marks:main') >= 20)
  })
}

test('record follows the Node processes the program starts (spawn, fork) and its Workers', () => {
  const launcher = path.join(dir, 'launcher.js')
  fs.writeFileSync(launcher, `
    const { spawnSync, fork } = require('node:child_process')
    const a = spawnSync(process.execPath, [${JSON.stringify(marks)}, '{"n":5}'], { stdio: 'inherit' })
    const b = fork(${JSON.stringify(marks)}, ['{"n":7,"worker":4}'])
    b.on('exit', (code) => { process.exitCode = a.status || code })
  `)
  const out = path.join(dir, 'tree.nat')
  const r = run(['record', '-o', out, '--', process.execPath, launcher])
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stderr, /3 processes/)
  const scan = scanTrace(out)
  assert.equal(scan.files.length, 3)
  assert.match(scan.files[0].meta.argv[0], /launcher\.js$/, 'the first process writes the -o file')
  const pids = new Set(scan.files.map((f) => f.meta.pid))
  assert.equal(pids.size, 3)
  for (const f of scan.files.slice(1)) assert.equal(f.meta.ppid, scan.files[0].meta.pid)
  // One trace: 5 + 7 chains of the two children, 4 of the Worker.
  assert.equal(framesOf(out, 'marks:main'), 2 * (5 + 7))
  assert.equal(framesOf(out, 'marks:worker'), 2 * 4)
  const s = run(['stacks', out])
  assert.equal(s.status, 0, s.stderr)
  assert.match(s.stderr, /3 processes/)
  // --no-follow: the program only.
  const r2 = run(['record', '--no-follow', '-o', path.join(dir, 'one.nat'), '--', process.execPath, launcher])
  assert.equal(r2.status, 0, r2.stderr)
  assert.equal(scanTrace(path.join(dir, 'one.nat')).files.length, 1)
})

test('record -- node --test records the test files\' processes', () => {
  const t = path.join(dir, 'x.test.js')
  fs.writeFileSync(t, `
    const test = require('node:test')
    const { spawnSync } = require('node:child_process')
    test('marks', () => {
      const r = spawnSync(process.execPath, [${JSON.stringify(marks)}, '{"n":3}'])
      if (r.status !== 0) throw new Error(String(r.stderr))
    })
    test('in process', () => { require(${JSON.stringify(root)}).marks.link(require(${JSON.stringify(root)}).marks.site('xtest:link')) })
  `)
  const out = path.join(dir, 'nodetest.nat')
  const r = run(['record', '-o', out, '--', process.execPath, '--test', '--test-concurrency=1', t])
  assert.equal(r.status, 0, r.stderr)
  const scan = scanTrace(out)
  assert.ok(scan.files.some((f) => f.meta.argv.some((a) => a.endsWith('x.test.js'))), 'the test file\'s process is recorded')
  assert.equal(framesOf(out, 'marks:main'), 6)
  const { graph } = loadGraph(out)
  assert.ok(graph.pending().some((p) => p.site === 'xtest:link'), 'work of the test file itself')
})

test('a program that drains the engine itself takes nothing from the recording', () => {
  const out = path.join(dir, 'selfdrain.nat')
  const r = run(['record', '-o', out, '--', process.execPath, marks, '{"n":50,"selfDrain":true}'])
  assert.equal(r.status, 0, r.stderr)
  assert.equal(framesOf(out, 'marks:main'), 100)
  assert.match(r.stderr, / 0 lost;/)
})

test('record -o x.json: the stream trace and a JSON export', () => {
  const out = path.join(dir, 'exp.json')
  const r = run(['record', '-o', out, '--', process.execPath, marks, '{"n":4}'])
  assert.equal(r.status, 0, r.stderr)
  assert.ok(stream.isStreamFile(`${out}.nat`))
  const j = JSON.parse(fs.readFileSync(out, 'utf8'))
  assert.equal(j.format, 'napi-async-trace')
  assert.equal(j.events.filter((e) => e.event === 'executionBegin' && e.site === 'marks:main').length, 8)
})

test('report and stacks on a trace longer than --max-events: the report says what it left out, stacks reads it all', () => {
  const out = path.join(dir, 'long.nat')
  const r = run(['record', '-o', out, '--stacks', '--', process.execPath, marks, '{"n":200}'])
  assert.equal(r.status, 0, r.stderr)
  const html = path.join(dir, 'long.html')
  const x = run(['report', out, '-o', html, '--max-events', '100'])
  assert.equal(x.status, 0, x.stderr)
  assert.match(x.stderr, /shows its first 100/)
  assert.match(fs.readFileSync(html, 'utf8'), /the first 100 of the trace's \d+ events/)
  const s = run(['stacks', out, '--max-events', '100'])
  assert.equal(s.status, 0, s.stderr)
  assert.match(s.stdout, /# the 5 slowest frame\(s\) of 400/)
  assert.match(s.stdout, /asked for at chains \(marks\.js:\d+\)/)
  assert.match(s.stdout, /# sites \(1\)[^\n]*\nmarks:main {2}400 frames/)
})
