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

module.exports = { root, runFresh }
