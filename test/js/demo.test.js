'use strict'
// `npm start`: the demo prints the events, one async stack and the site
// table, and writes trace.json and report.html that the tools read back.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { root } = require('./helpers')

test('the demo prints events, a stack and the site table, and writes both files', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nat-demo-'))
  try {
    const r = spawnSync(process.execPath, [path.join(root, 'examples', 'demo.js')], { cwd: dir, encoding: 'utf8' })
    assert.equal(r.status, 0, r.stderr)
    const out = r.stdout
    assert.match(out, /^== \d+ events in the seed format \(first 24\) ==\n\{ "event": "executionBegin", "executeID": 0 \}\n\{ "event": "link", "executeID": 0, "linkID": 1 \}/)
    assert.match(out, /12 callbacks, each saw its own request's store/)
    // request 3's last callback: promise <- hash <- timer <- root
    const stack = out.split('== the async call stack')[1].split('==')[1]
    const frames = [...stack.matchAll(/^frame \d+ {2}(\S+)/gm)].map((m) => m[1])
    assert.deepEqual(frames, ['js:PROMISE', 'hash:sha256', 'js:Timeout'])
    assert.match(stack, /root \(frame 0\)\s*$/)
    assert.match(out, /^hash:sha256 +12 /m)
    assert.match(out, /^pending: 0$/m)
    const trace = JSON.parse(fs.readFileSync(path.join(dir, 'trace.json'), 'utf8'))
    assert.equal(trace.format, 'napi-async-trace')
    const nat = require(root)
    const g = nat.graph(trace)
    assert.equal(g.frames().filter((f) => f.site === 'hash:sha256').length, 12)
    const html = fs.readFileSync(path.join(dir, 'report.html'), 'utf8')
    assert.match(html, /hash:sha256/)
    assert.doesNotMatch(html, /https?:/)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})
