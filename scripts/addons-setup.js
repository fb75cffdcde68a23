#!/usr/bin/env node
'use strict'
// The real addons the zero-code tracing tests use (devDependencies), made
// loadable offline. npm 11 does not run dependencies' install scripts
// unless they are approved, so a fresh `npm install` may leave an addon
// without its binary: bcrypt, classic-level and @parcel/watcher ship
// prebuilds (in their tarball or an optional platform package) and need no
// script; sqlite3 downloads a prebuild from GitHub in its install script,
// which is neither approved nor reachable here, so it is built from source
// with node-gyp against the running Node's own headers (what
// scripts/build.js does for this package; nothing is downloaded).
//
//   node scripts/addons-setup.js          check (and build) every addon
//   npm run setup:addons                  the same
//
// sqlite3 is not a devDependency: npm runs its install script, which
// needs Node's headers and, without them configured, downloads them; a
// fresh machine's `npm install` then fails offline. It is installed on
// first use into the git-ignored .cache/addons (scripts skipped) and built
// there as above; NODE_PATH (set here for the processes the tests start)
// makes it loadable.
//
// The tests call ensure(name) and skip, saying why, when it returns an
// error: a skipped addon is never counted as passed.
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const root = path.join(__dirname, '..')
// Addons installed on demand, with the version range the tests expect.
const ON_DEMAND = { sqlite3: '^6.0.1' }
const cacheDir = path.join(root, '.cache', 'addons')
const cacheModules = path.join(cacheDir, 'node_modules')
if (!(process.env.NODE_PATH || '').split(path.delimiter).includes(cacheModules)) {
  process.env.NODE_PATH = [cacheModules, process.env.NODE_PATH].filter(Boolean).join(path.delimiter)
}
const ADDONS = ['bcrypt', '@node-rs/bcrypt', 'classic-level', 'sqlite3', '@parcel/watcher']
// Addons whose binary can be built here from the sources in their package.
const BUILDABLE = new Set(['sqlite3', 'bcrypt', 'classic-level'])

function loads (name) {
  const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(name)})`],
    { cwd: root, encoding: 'utf8', env: process.env })
  return r.status === 0 ? null : (r.stderr.trim().split('\n').find((l) => /Error/.test(l)) || `status ${r.status}`)
}

// The directory with include/node/node_api.h for the running Node.
function nodeDir () {
  const candidates = [path.resolve(path.dirname(process.execPath), '..')]
  if (process.env.NAT_NODEDIR) candidates.unshift(process.env.NAT_NODEDIR)
  return candidates.find((d) => fs.existsSync(path.join(d, 'include', 'node', 'common.gypi'))) || null
}

// Installs an ON_DEMAND addon into .cache/addons without running its
// scripts (build() builds it). null, or why not.
function install (name) {
  fs.mkdirSync(cacheDir, { recursive: true })
  process.stderr.write(`napi-async-trace: fetching ${name}@${ON_DEMAND[name]} (npm, scripts off) into ${path.relative(root, cacheDir)} for the tests\n`)
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  const r = spawnSync(npm, ['install', '--prefix', cacheDir, '--ignore-scripts', '--no-save', '--no-package-lock',
    '--no-audit', '--no-fund', `${name}@${ON_DEMAND[name]}`], { cwd: cacheDir, encoding: 'utf8' })
  if (r.error) return `npm could not be run to install ${name}: ${r.error.message}`
  if (r.status !== 0) return `npm install ${name} failed: ${(r.stderr || '').trim().split('\n').slice(-2).join(' | ')}`
  return null
}

function resolvePkg (name) {
  try {
    return path.dirname(require.resolve(`${name}/package.json`, { paths: [root, cacheDir] }))
  } catch {
    return null
  }
}

function build (name) {
  let pkgDir = resolvePkg(name)
  if (pkgDir === null && Object.hasOwn(ON_DEMAND, name)) {
    const failed = install(name)
    if (failed !== null) return failed
    pkgDir = resolvePkg(name)
  }
  if (pkgDir === null) return `${name} is not installed (npm install)`
  if (!fs.existsSync(path.join(pkgDir, 'binding.gyp'))) return `${name} has no binding.gyp to build from`
  const dir = nodeDir()
  if (dir === null) return `no Node.js headers next to ${process.execPath} to build ${name} with`
  let gyp
  try {
    gyp = require.resolve('node-gyp/bin/node-gyp.js', { paths: [root] })
  } catch {
    return 'node-gyp is not installed (npm install)'
  }
  // One build at a time per package (test files run in parallel under
  // `node --test`): the others wait for it, then load what it built.
  const lock = path.join(pkgDir, '.nat-build.lock')
  try {
    fs.mkdirSync(lock)
  } catch {
    const start = Date.now()
    while (fs.existsSync(lock) && Date.now() - start < 15 * 60_000) spawnSync('sleep', ['1'])
    return null
  }
  try {
    process.stderr.write(`napi-async-trace: building ${name} from source (offline, headers from ${dir}); this takes a few minutes\n`)
    const r = spawnSync(process.execPath, [gyp, 'rebuild', `--nodedir=${dir}`, '--jobs=2'],
      { cwd: pkgDir, encoding: 'utf8', env: { ...process.env, npm_config_nodedir: dir } })
    if (r.status !== 0) return `building ${name} failed: ${(r.stderr || '').trim().split('\n').slice(-3).join(' | ')}`
    return null
  } finally {
    fs.rmSync(lock, { recursive: true, force: true })
  }
}

const cache = new Map()

/** null when `name` loads (after building it if needed), else why not. */
function ensure (name) {
  if (cache.has(name)) return cache.get(name)
  let why = loads(name)
  if (why !== null && BUILDABLE.has(name)) {
    const failed = build(name)
    why = failed === null ? loads(name) : failed
  }
  cache.set(name, why)
  return why
}

module.exports = { ensure, ADDONS }

if (require.main === module) {
  let bad = 0
  for (const name of ADDONS) {
    const why = ensure(name)
    process.stdout.write(`${name}: ${why === null ? 'ok' : `NOT AVAILABLE: ${why}`}\n`)
    if (why !== null) bad++
  }
  process.exitCode = bad ? 1 : 0
}
