'use strict'
// One engine per process: loading the package a second time (a cleared
// require cache, or a second copy under another path or version) finds
// the first copy and uses it, so frames are not split between two frame
// stacks and the events of both copies come out of one drain().
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { root, runFresh, buildConsumer } = require('./helpers')

// A copy of the package (lib/, package.json and the built addon) in a
// temporary directory, with `version` in its package.json.
function copyPackage (version) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nat-copy-'))
  fs.cpSync(path.join(root, 'lib'), path.join(dir, 'lib'), { recursive: true })
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'))
  pkg.version = version
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify(pkg))
  fs.mkdirSync(path.join(dir, 'build', 'Release'), { recursive: true })
  fs.copyFileSync(path.join(root, 'build', 'Release', 'napi_async_trace.node'),
    path.join(dir, 'build', 'Release', 'napi_async_trace.node'))
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'))
  return dir
}

// In a fresh process: load the package, the consumer fixture (which
// imports the C table), then the second copy `second` (code giving it).
// A native link is made inside a frame of the second copy; prints where
// it was recorded and what both copies report.
function scenario (second) {
  const code = `
    const warnings = []
    process.on('warning', (w) => warnings.push(w.message))
    const a = require('napi-async-trace')
    const c = require(${JSON.stringify(buildConsumer())})
    const b = ${second}
    b.enable()
    let ran = 0
    const q = c.createQueue('one:q', () => { ran++ }, { poolThreads: 1 })
    const frame = b.marks.begin(b.marks.site('one:frame'), 0)
    const link = c.submit(q, 1, 0)
    b.marks.end(frame)
    const wait = () => {
      if (ran === 0) return setTimeout(wait, 1)
      c.release(q)
      setImmediate(() => {
        const events = [...b.drain()]
        const l = events.find((e) => e.event === 'link' && e.linkID === link)
        const sa = a.stats()
        const sb = b.stats()
        process.stdout.write(JSON.stringify({
          same: a === b,
          frame,
          linkFrame: l === undefined ? null : l.executeID,
          lastIds: [sa.lastId, sb.lastId],
          recorded: [sa.recorded, sb.recorded],
          engine: b.engine,
          warnings: warnings.filter((m) => m.includes('napi-async-trace'))
        }) + '\\n')
      })
    }
    wait()
  `
  const r = runFresh(code)
  assert.equal(r.status, 0, r.stderr)
  return JSON.parse(r.stdout)
}

function assertOneEngine (o) {
  if (process.env.NAT_SHOW) console.log(JSON.stringify(o))
  assert.equal(o.same, true, 'the second copy uses the first copy\'s exports')
  assert.notEqual(o.frame, 0)
  assert.equal(o.linkFrame, o.frame, 'the native link is recorded in the second copy\'s frame')
  assert.equal(o.lastIds[0], o.lastIds[1])
  assert.equal(o.recorded[0], o.recorded[1])
}

test('a cleared require cache: the second require finds the first engine', () => {
  const o = scenario(`(() => {
    for (const k of Object.keys(require.cache)) if (k.startsWith(${JSON.stringify(path.join(root, 'lib'))})) delete require.cache[k]
    return require('napi-async-trace')
  })()`)
  assertOneEngine(o)
  assert.deepEqual(o.warnings, [])
})

test('a second copy of the same version under another path uses the first', (t) => {
  const dir = copyPackage(require(path.join(root, 'package.json')).version)
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  const o = scenario(`require(${JSON.stringify(dir)})`)
  assertOneEngine(o)
  assert.deepEqual(o.warnings, [])
  assert.equal(o.engine.path, path.join(root, 'lib'))
})

test('a second copy of another version uses the first and says so once', (t) => {
  const dir = copyPackage('99.0.0-other')
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  const o = scenario(`(require(${JSON.stringify(dir)}), require(${JSON.stringify(dir)}))`)
  assertOneEngine(o)
  assert.equal(o.warnings.length, 1, o.warnings.join('\n'))
  assert.match(o.warnings[0], /99\.0\.0-other/)
  assert.match(o.warnings[0], new RegExp(o.engine.version.replace(/\./g, '\\.')))
  assert.equal(o.engine.version, require(path.join(root, 'package.json')).version)
})
