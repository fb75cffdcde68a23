'use strict'
// The .d.ts files against a program that uses every documented API
// (test/types/usage.ts, and the ESM entry in usage-esm.mts), compiled with
// `tsc --strict --noEmit` (typescript is a devDependency). A documented
// name missing from the types, or typed so that ordinary use fails to
// compile, fails here with tsc's message.
const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { root } = require('./helpers')

test('tsc --strict --noEmit over a program using every documented API', { timeout: 120_000 }, () => {
  const tsc = require.resolve('typescript/bin/tsc', { paths: [root] })
  const project = path.join(root, 'test', 'types', 'tsconfig.json')
  const r = spawnSync(process.execPath, [tsc, '--strict', '--noEmit', '-p', project], { cwd: root, encoding: 'utf8' })
  assert.equal(r.status, 0, `tsc failed:\n${r.stdout}${r.stderr}`)
})
