'use strict'
// Shared by the zero-code tracing suites (addons-*.test.js).
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { root, runFresh } = require('./helpers')

// The plain fixture (test/fixtures/plain): a Node-API addon that knows
// nothing of napi-async-trace, built with node-gyp when its source is newer
// than the binary.
const plainDir = path.join(root, 'test', 'fixtures', 'plain')
const plainPath = path.join(plainDir, 'build', 'Release', 'plain.node')

function buildPlain () {
  const inputs = [path.join(plainDir, 'plain.c'), path.join(plainDir, 'binding.gyp')]
  const built = fs.existsSync(plainPath) ? fs.statSync(plainPath).mtimeMs : 0
  if (inputs.every((f) => fs.statSync(f).mtimeMs < built)) return plainPath
  const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'build.js'), '--dir', plainDir],
    { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`building the plain fixture failed:\n${r.stdout}\n${r.stderr}`)
  return plainPath
}

// Runs `body` (an async function body) in a fresh process in which
// `nat`, `als` (an AsyncLocalStorage), `done(obj)` and `events()` (every
// event drained so far, as plain objects) are in scope; with addons true,
// zero-code tracing is on before anything else loads. Returns what done()
// got; fails with the child's stderr when it did not exit cleanly.
function scenario (body, { addons = true, args = [], env = {} } = {}) {
  const code = `
  const nat = require('napi-async-trace')
  const { AsyncLocalStorage } = require('node:async_hooks')
  const als = new AsyncLocalStorage()
  const all = []
  const events = () => { for (const e of nat.drain()) all.push({ ...e }); return all }
  const done = (o) => process.stdout.write('\\n@@' + JSON.stringify(o) + '\\n')
  nat.enable(${addons ? '{ addons: true }' : '{}'})
  ;(async () => { ${body} })().catch((err) => { console.error(err); process.exit(70) })
`
  const r = runFresh(code, { args, env })
  if (r.signal !== null || r.status !== 0) {
    throw new Error(`child failed (status ${r.status}, signal ${r.signal}):\n${r.stderr}\n${r.stdout}`)
  }
  const line = r.stdout.split('\n').find((l) => l.startsWith('@@'))
  if (line === undefined) throw new Error(`child printed no result:\n${r.stdout}\n${r.stderr}`)
  return { result: JSON.parse(line.slice(2)), stderr: r.stderr }
}

const nodeMajor = Number(process.versions.node.split('.')[0])

module.exports = { buildPlain, plainPath, scenario, nodeMajor }
