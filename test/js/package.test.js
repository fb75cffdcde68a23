'use strict'
// package.json as npm and Node read it: the fields a user's tools look at,
// an exports map whose every subpath resolves (with types), an ESM entry
// exporting exactly what the CommonJS one does, and a .d.ts declaring every
// runtime export. The tarball's contents are pack.test.js's.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { root } = require('./helpers')

const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'))

test('license, repository, bugs, engines, os and cpu', () => {
  assert.equal(pkg.license, 'MIT')
  assert.match(fs.readFileSync(path.join(root, 'LICENSE'), 'utf8'), /^MIT License\n[\s\S]*Permission is hereby granted, free of charge/)
  assert.ok(pkg.files.includes('LICENSE'))
  assert.match(pkg.repository.url, /^git\+https:\/\//)
  assert.match(pkg.bugs.url, /^https:\/\//)
  // engines names the oldest Node tested: the system Node (20) of
  // `npm test`; scripts/matrix.js runs the newer ones.
  assert.equal(pkg.engines.node, '>=20')
  assert.ok(Number(process.versions.node.split('.')[0]) >= 20)
  assert.deepEqual(pkg.os, ['linux'])
  assert.deepEqual(pkg.cpu, ['x64', 'arm64'])
})

test('every exports subpath resolves by the package name, with a types file that exists', () => {
  const want = ['.', './register', './report', './include', './package.json']
  assert.deepEqual(Object.keys(pkg.exports).sort(), [...want].sort())
  const typesOf = (entry) => {
    if (typeof entry === 'string') return []
    return Object.entries(entry).flatMap(([k, v]) => k === 'types' ? [v] : typesOf(v))
  }
  for (const sub of want) {
    const spec = sub === '.' ? 'napi-async-trace' : `napi-async-trace/${sub.slice(2)}`
    const file = require.resolve(spec) // a self-reference: resolved through the exports map
    assert.ok(fs.existsSync(file), spec)
    if (sub === './package.json') continue
    const types = typesOf(pkg.exports[sub])
    assert.ok(types.length > 0, `${sub} has no types`)
    for (const t of types) assert.ok(fs.existsSync(path.join(root, t)), `${sub}: ${t} is missing`)
  }
  // Subpaths outside the map stay private.
  assert.throws(() => require.resolve('napi-async-trace/lib/binding.js'), { code: 'ERR_PACKAGE_PATH_NOT_EXPORTED' })
})

test('./report and ./include do not load the native addon', () => {
  const r = spawnSync(process.execPath, ['-e', `
    const { renderReport } = require('napi-async-trace/report')
    const dir = require('napi-async-trace/include')
    console.log(JSON.stringify({ fn: typeof renderReport, dir,
      addons: Object.keys(require.cache).filter((f) => f.endsWith('.node')).length }))`], { cwd: root, encoding: 'utf8' })
  assert.equal(r.status, 0, r.stderr)
  const got = JSON.parse(r.stdout)
  assert.equal(got.fn, 'function')
  assert.ok(fs.existsSync(path.join(got.dir, 'napi_async_trace.h')))
  assert.equal(got.addons, 0)
})

test('./register loads the engine and exports the package module', () => {
  const r = spawnSync(process.execPath, ['--require', 'napi-async-trace/register', '-e', `
    const nat = require('napi-async-trace')
    console.log(JSON.stringify({ same: require('napi-async-trace/register') === nat,
      addons: Object.keys(require.cache).filter((f) => f.endsWith('.node')).length }))`], { cwd: root, encoding: 'utf8' })
  assert.equal(r.status, 0, r.stderr)
  assert.deepEqual(JSON.parse(r.stdout), { same: true, addons: 1 })
})

test('lib/index.mjs exports exactly the names of lib/index.js, and index.d.ts declares each', async () => {
  const cjs = require(root)
  const esm = await import('napi-async-trace')
  const names = Object.keys(cjs).sort()
  assert.deepEqual(Object.keys(esm).filter((k) => k !== 'default').sort(), names,
    'lib/index.mjs lists the export names by hand: add the new name there')
  assert.equal(esm.default, cjs)
  for (const n of names) assert.equal(esm[n], cjs[n], n)
  const dts = fs.readFileSync(path.join(root, 'lib', 'index.d.ts'), 'utf8')
  const declared = new Set([...dts.matchAll(/^export (?:declare )?(?:function|const|class|let) (\w+)/gm)].map((m) => m[1]))
  const missing = names.filter((n) => !declared.has(n))
  assert.deepEqual(missing, [], 'runtime exports without a declaration in lib/index.d.ts')
})
