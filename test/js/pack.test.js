'use strict'
// The package as a user gets it: `npm pack` (which prebuilds the addon
// with prebuildify --napi), then, in an empty project, `npm install
// <tarball> --offline` (node-gyp-build is bundled, so no registry is
// needed). npm 11 does not run a dependency's install script unless
// approved, so this must work from the shipped prebuild alone.
const test = require('node:test')
const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { root } = require('./helpers')

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'

// The linux-arm64 prebuild is cross-compiled on linux-x64 when Debian's
// gcc-aarch64-linux-gnu is there (scripts/build.js --prebuild); CI has it.
const CROSS = process.platform === 'linux' && process.arch === 'x64' &&
  spawnSync('aarch64-linux-gnu-gcc', ['--version'], { stdio: 'ignore' }).status === 0
const NO_CROSS = CROSS ? false : 'no aarch64-linux-gnu-gcc to cross-compile the arm64 prebuild: apt-get install -y gcc-aarch64-linux-gnu'
let packed = null // what the pack test saw: { files, arm64Machine }

// e_machine of an ELF file: 62 x86-64, 183 AArch64.
function elfMachine (file) {
  const b = fs.readFileSync(file)
  assert.equal(b.toString('latin1', 1, 4), 'ELF', `${file} is not ELF`)
  return b.readUInt16LE(18)
}

function run (cmd, args, cwd) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, npm_config_update_notifier: 'false' } })
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`)
  return r.stdout
}

test('npm pack, then npm install <tgz> offline in an empty project', { timeout: 300_000 }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nat-pack-'))
  try {
    const out = run(npm, ['pack', '--json', '--pack-destination', dir], root)
    const [info] = JSON.parse(out.slice(out.indexOf('[')))
    const files = info.files.map((f) => f.path)
    for (const f of ['LICENSE', 'package.json', 'README.md', 'binding.gyp', 'include/napi_async_trace.h', 'include/napi_async_trace_defs.h',
      'lib/index.js', 'lib/index.mjs', 'lib/index.d.ts', 'lib/index.d.mts', 'lib/register.js', 'lib/report.d.ts',
      'lib/errno.js', 'lib/walk.js', 'lib/report/main.js', 'lib/report/report.css', 'src/core/ring.c', 'src/napi/binding.c',
      'scripts/build.js', `prebuilds/${process.platform}-${process.arch}/napi-async-trace.node`]) {
      assert.ok(files.includes(f), `the tarball lacks ${f}`)
    }
    for (const f of files) {
      // node-gyp-build is bundled (bundleDependencies), so the tarball
      // installs with no registry at all; nothing else from node_modules.
      const ok = !f.startsWith('build/') && !f.startsWith('test/') &&
        (!f.startsWith('node_modules/') || f.startsWith('node_modules/node-gyp-build/'))
      assert.ok(ok, `the tarball ships ${f}`)
    }
    assert.ok(!fs.existsSync(path.join(root, 'prebuilds')), 'postpack removes prebuilds/ from the work tree')

    const app = path.join(dir, 'app')
    fs.mkdirSync(app)
    run(npm, ['init', '-y'], app)
    run(npm, ['install', '--offline', '--no-audit', '--no-fund', path.join(dir, info.filename)], app)
    const pkg = path.join(app, 'node_modules', 'napi-async-trace')
    const arm64 = path.join(pkg, 'prebuilds', 'linux-arm64', 'napi-async-trace.node')
    packed = { files, arm64Machine: fs.existsSync(arm64) ? elfMachine(arm64) : null }
    const probe = `
      const nat = require('napi-async-trace')
      nat.enable()
      const s = nat.marks.site('pack:probe')
      const id = nat.marks.link(s)
      const e = [...nat.drain()].find((x) => x.linkID === id)
      console.log(JSON.stringify({ site: e.site, enabled: nat.stats().enabled,
        addon: Object.keys(require.cache).find((f) => f.endsWith('.node')) }))
    `
    const got = JSON.parse(run(process.execPath, ['-e', probe], app))
    assert.equal(got.site, 'pack:probe')
    assert.equal(got.enabled, true)
    // The addon came from the shipped prebuild or a local build of the
    // installed copy, never from this work tree.
    assert.ok(got.addon.startsWith(fs.realpathSync(pkg)), got.addon)
    const esm = run(process.execPath, ['--input-type=module', '-e',
      "import { stats } from 'napi-async-trace'; console.log(typeof stats().recorded)"], app)
    assert.equal(esm.trim(), 'number')
    // The subpaths of the exports map, from the installed copy.
    const subs = run(process.execPath, ['-e', `console.log([typeof require('napi-async-trace/report').renderReport,
      typeof require('napi-async-trace/register').enable, require('napi-async-trace/include') === ${JSON.stringify(path.join(fs.realpathSync(pkg), 'include'))},
      require('napi-async-trace/package.json').license].join(' '))`], app)
    assert.equal(subs.trim(), 'function function true MIT')
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

test('the tarball carries the linux-arm64 prebuild, an AArch64 ELF object', { skip: NO_CROSS }, () => {
  assert.ok(packed !== null, 'the pack test ran first')
  assert.ok(packed.files.includes('prebuilds/linux-arm64/napi-async-trace.node'), 'the tarball lacks prebuilds/linux-arm64')
  assert.equal(packed.arm64Machine, 183)
})
