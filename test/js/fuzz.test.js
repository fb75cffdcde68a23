'use strict'
// The seeded JS fuzz (test/fuzz/js-fuzz.js) in a child process, so that a
// crash is a failed test that names the seed. NAT_FUZZ_SEED=<n> replays a
// run; NAT_FUZZ_CALLS=<n> changes the number of calls (default 10,000).
const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { root } = require('./helpers')

const nat = require(root)

test('seeded fuzz of every exported JS function: only clean exceptions, never a crash', () => {
  const seed = process.env.NAT_FUZZ_SEED !== undefined
    ? Number(process.env.NAT_FUZZ_SEED) >>> 0
    : (Math.random() * 2 ** 32) >>> 0
  const calls = Number(process.env.NAT_FUZZ_CALLS || 10000)
  const r = spawnSync(process.execPath, [path.join(root, 'test', 'fuzz', 'js-fuzz.js')], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, NAT_FUZZ_SEED: String(seed), NAT_FUZZ_CALLS: String(calls) },
    maxBuffer: 64 << 20
  })
  const replay = `replay: NAT_FUZZ_SEED=${seed} node test/fuzz/js-fuzz.js`
  console.log(`fuzz seed ${seed} (${replay})`)
  assert.equal(r.signal, null, `the fuzz child died by ${r.signal}; ${replay}\n${r.stderr.slice(-4000)}`)
  const lines = r.stdout.trim().split('\n')
  assert.equal(lines[0], `seed ${seed}`)
  let summary
  try {
    summary = JSON.parse(lines[lines.length - 1])
  } catch {
    assert.fail(`the fuzz child exited ${r.status} without a summary; ${replay}\n${r.stderr.slice(-4000)}`)
  }
  assert.deepEqual(summary.unclean, [], `exceptions that are not clean; ${replay}`)
  assert.equal(r.status, 0, `${replay}\n${r.stderr.slice(-4000)}`)
  assert.equal(summary.calls, calls)
  assert.ok(summary.returned > calls / 10, 'many calls got through the checks')
  assert.ok(Object.keys(summary.threw).length >= 4, `several kinds of clean errors: ${JSON.stringify(summary.threw)}`)
  assert.deepEqual(summary.after, { found: true, pending: 0, consistent: true }, 'the engine still records and its counts agree')
  console.log(`fuzz: ${summary.calls} calls, ${summary.returned} returned, threw ${JSON.stringify(summary.threw)}`)
})

test('decode and EventBatch reject an object that only inherits from an ArrayBuffer (found by the fuzz)', () => {
  const fake = Object.create(new ArrayBuffer(48))
  assert.ok(fake instanceof ArrayBuffer)
  for (const fn of [() => nat.decode(fake), () => new nat.EventBatch(fake)]) {
    assert.throws(fn, (err) => err instanceof TypeError && err.code === 'NAT_EINVAL')
  }
  assert.equal(nat.decode(new ArrayBuffer(48)).length, 1)
})
