'use strict'
// examples/otel runs: spans of a native chain go through the OTLP/HTTP
// exporter to its loopback receiver, and the tree it prints has the chain
// under the request span.
const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { root } = require('./helpers')

test('node examples/otel prints the request\'s tree: hash -> hash, and verify chunk -> hash', () => {
  const r = spawnSync(process.execPath, [path.join(root, 'examples', 'otel')], { cwd: root, encoding: 'utf8', timeout: 120000 })
  assert.equal(r.status, 0, r.stderr)
  const lines = r.stdout.trim().split('\n')
  assert.equal(lines[0], 'received 5 spans in 1 trace(s):')
  // Names by depth, in the printed order.
  const shape = lines.slice(1).map((l) => {
    const m = /^([ │├└─]*)(\S.*?)  \d+\.\d{3} ms  \[([0-9a-f]{16})\]/.exec(l)
    assert.ok(m, `a tree line: ${l}`)
    return `${m[1].length / 3}:${m[2]}`
  })
  assert.deepEqual(shape, [
    '0:GET /digest',
    '1:hash:sha256',
    '2:hash:sha256',
    '1:verify chunk',
    '2:hash:sha256'
  ])
  for (const l of lines.filter((x) => x.includes('hash:sha256'))) {
    assert.match(l, /\(queue wait \d+\.\d{3} ms, loop wait \d+\.\d{3} ms, callback \d+\.\d{3} ms\)$/)
  }
})
