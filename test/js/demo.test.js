'use strict'
// `npm start`: the demo prints the events, one async stack and the site
// table, and writes trace.nat and report.html that the tools read back.
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
    // It says what it shows: the four events in plain words first.
    assert.match(out, /^napi-async-trace demo: 6 requests/)
    for (const ev of ['link', 'ready', 'executionBegin', 'executionEnd']) assert.match(out, new RegExp(`^  ${ev} +\\S`, 'm'))
    // Then one request's chain, each event with a note: timer -> hash on a
    // native thread -> promise, 4 events per hop, the hash made ready off
    // the JS thread.
    const chain = out.split('== request 3, event by event')[1].split('\n\n')[0].split('\n').slice(1)
    assert.equal(chain.length, 12, chain.join('\n'))
    for (const line of chain) assert.match(line, /^\{ "event": "\w+".* \}  +\S/)
    assert.match(chain[0], /"event": "link", "executeID": 0, .*the program asks for a timer/)
    assert.ok(chain.some((l) => /"event": "ready", "executeID": 0, .*the hash is done \(on native thread \d+\)/.test(l)), chain.join('\n'))
    assert.match(chain[11], /"event": "executionEnd".*returns$/)
    assert.match(out, /12 callbacks, each saw its own request's store/)
    // request 3's last callback: promise <- hash <- timer <- root
    const stack = out.split('== the async call stack')[1].split('==')[1]
    const frames = [...stack.matchAll(/^frame \d+ {2}(\S+)/gm)].map((m) => m[1])
    assert.deepEqual(frames, ['js:PROMISE', 'hash:sha256', 'js:Timeout'])
    assert.match(stack, /root \(frame 0\)\s*$/)
    assert.match(out, /^hash:sha256 +12 /m)
    const pending = Number(/^pending: (\d+)$/m.exec(out)[1])
    assert.equal(pending, 0)
    // The next steps are commands, one a line, that name the file written.
    const next = out.split('\nnext:\n')[1].trim().split('\n')
    assert.deepEqual(next.map((l) => l.trim().split(/\s{2,}/)[0]),
      ['npx napi-async-trace stacks trace.nat', 'npx napi-async-trace report trace.nat -o report.html',
        'npx napi-async-trace chrome trace.nat -o trace-chrome.json'])
    // Written through the public API, read back through it.
    const nat = require(root)
    const g = nat.graph(nat.readTrace(path.join(dir, 'trace.nat')))
    assert.equal(g.frames().filter((f) => f.site === 'hash:sha256').length, 12)
    // The `next:` commands work on what it wrote.
    const cli = path.join(root, 'bin', 'napi-async-trace.js')
    for (const args of [['stacks', 'trace.nat'], ['chrome', 'trace.nat', '-o', 'trace-chrome.json'], ['report', 'trace.nat', '-o', 'report-cli.html']]) {
      const c = spawnSync(process.execPath, [cli, ...args], { cwd: dir, encoding: 'utf8' })
      assert.equal(c.status, 0, `napi-async-trace ${args.join(' ')}: ${c.stderr}`)
    }
    assert.ok(JSON.parse(fs.readFileSync(path.join(dir, 'trace-chrome.json'), 'utf8')).traceEvents.length > 0)
    assert.match(fs.readFileSync(path.join(dir, 'report-cli.html'), 'utf8'), /hash:sha256/)
    const html = fs.readFileSync(path.join(dir, 'report.html'), 'utf8')
    assert.match(html, /hash:sha256/)
    // The report was made from the same graph: its pending count is the
    // console's (it said 1 when the demo's own callback was still open).
    const data = JSON.parse(/<script type="application\/json" id="report-data">([\s\S]*?)<\/script>/.exec(html)[1])
    assert.equal(data.totals.pending, pending)
    assert.equal(g.pending().length, pending)
    assert.doesNotMatch(html, /https?:/)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})
