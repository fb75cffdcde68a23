'use strict'
// Shared by the node:test suites.
const { spawnSync } = require('node:child_process')
const path = require('node:path')

const root = path.join(__dirname, '..', '..')

// Runs `code` in a fresh Node process (fresh ID counter and sites), from
// the package root, so 'napi-async-trace' resolves to this package through
// its own "exports" (self-reference); returns { status, stdout, stderr }.
function runFresh (code, { args = [], env = {} } = {}) {
  const r = spawnSync(process.execPath, [...args, '-e', code], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, ...env }
  })
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr }
}

// The seed example's event sequence, DESIGN.md section 2, as printed.
const SEED_OUTPUT = [
  '{ "event": "executionBegin", "executeID": 0 }',
  '{ "event": "link", "executeID": 0, "linkID": 1 }',
  '{ "event": "link", "executeID": 0, "linkID": 2 }',
  '{ "event": "executionEnd", "executeID": 0 }',
  '{ "event": "ready", "executeID": 0, "linkID": 1, "readyID": 3 }',
  '{ "event": "executionBegin", "executeID": 4, "readyID": 3 }',
  '{ "event": "ready", "executeID": 4, "linkID": 2, "readyID": 5 }',
  '{ "event": "executionEnd", "executeID": 4 }',
  '{ "event": "executionBegin", "executeID": 6, "readyID": 5 }',
  '{ "event": "executionEnd", "executeID": 6 }',
  ''
].join('\n')

module.exports = { root, runFresh, SEED_OUTPUT }

// The consumer fixture (test/fixtures/consumer), built with node-gyp the
// first time and whenever its source or the public header is newer than
// the binary. Load napi-async-trace first: the fixture imports its table.
const fs = require('node:fs')
const fixture = path.join(root, 'test', 'fixtures', 'consumer')
const consumerPath = path.join(fixture, 'build', 'Release', 'consumer.node')

function buildConsumer () {
  const inputs = [path.join(fixture, 'consumer.c'), path.join(fixture, 'binding.gyp'),
    path.join(root, 'include', 'napi_async_trace.h'), path.join(root, 'include', 'napi_async_trace_defs.h')]
  const built = fs.existsSync(consumerPath) ? fs.statSync(consumerPath).mtimeMs : 0
  if (inputs.every((f) => fs.statSync(f).mtimeMs < built)) return consumerPath
  const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'build.js'), '--dir', fixture],
    { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`building the consumer fixture failed:\n${r.stdout}\n${r.stderr}`)
  return consumerPath
}

function loadConsumer () {
  require(root)
  return require(buildConsumer())
}

// Resolves after `ms` milliseconds.
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// Resolves once `done()` is true, polling on the event loop; a generous
// limit turns a hang into a failure (it is not a timing assertion).
async function until (done, what, limitMs = 60_000) {
  const start = Date.now()
  while (!done()) {
    if (Date.now() - start > limitMs) throw new Error(`timed out waiting for ${what}`)
    await sleep(1)
  }
}

// JS frame `<prefix>:start` -> native task `<prefix>:1` -> its callback ->
// `<prefix>:2` -> ... on the consumer fixture `c`, one queue (and pool
// thread) per hop. Resolves to { last, frame }: the executeIDs of the last
// hop's callback and of the starting JS frame.
async function nativeChain (c, hops, prefix) {
  const nat = require(root)
  const queues = []
  let last = 0
  for (let i = 1; i <= hops; i++) {
    const n = i
    queues.push(c.createQueue(`${prefix}:${n}`, () => {
      if (n < hops) c.submit(queues[n], n + 1, 0)
      else last = nat.marks.current()
    }, { poolThreads: 1 }))
  }
  const frame = nat.marks.begin(nat.marks.site(`${prefix}:start`), 0)
  c.submit(queues[0], 1, 0)
  nat.marks.end(frame)
  await until(() => last !== 0, 'the last hop')
  for (const q of queues) c.release(q)
  return { last, frame }
}

// The lines a scenario child starts with: `nat`, the consumer fixture `c`,
// the accounting `Tally` and `done(obj)` (prints the result) in scope.
function scenarioPrelude () {
  return `
  const nat = require('napi-async-trace')
  const c = require(${JSON.stringify(buildConsumer())})
  const { Tally } = require(${JSON.stringify(path.join(__dirname, 'accounting.js'))})
  const done = (o) => process.stdout.write(JSON.stringify(o) + '\\n')
`
}

// Runs `code` after the prelude in a fresh process; asserts a clean exit
// and returns the object passed to done().
function runScenario (code) {
  const assert = require('node:assert/strict')
  const r = runFresh(scenarioPrelude() + code)
  assert.equal(r.signal, null, `child killed by ${r.signal}\n${r.stderr}`)
  assert.equal(r.status, 0, r.stderr)
  return JSON.parse(r.stdout.trim().split('\n').pop())
}

module.exports.runScenario = runScenario
module.exports.scenarioPrelude = scenarioPrelude
module.exports.until = until
module.exports.nativeChain = nativeChain
module.exports.buildConsumer = buildConsumer
module.exports.loadConsumer = loadConsumer
module.exports.consumerPath = consumerPath
module.exports.sleep = sleep
