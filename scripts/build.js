#!/usr/bin/env node
'use strict'
// Builds the addon with node-gyp, offline: the headers come from the
// running Node's own install prefix (found from process.execPath), so a
// user's ~/.npmrc `nodedir` is never needed and nothing is downloaded.
//
//   node scripts/build.js               source build (build/Release)
//   node scripts/build.js --install     npm install: keep a prebuild that
//                                       loads, else build from source
//   node scripts/build.js --prebuild    prebuildify --napi (for npm pack)
//   node scripts/build.js --clean-prebuilds
//   node scripts/build.js --debug       Debug build
//   node scripts/build.js --asan        build with AddressSanitizer+UBSan
//   node scripts/build.js --dir D       build the addon in directory D (the
//                                       test fixture, the example) instead
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const args = process.argv.slice(2)
const dirArg = args.indexOf('--dir')
const root = dirArg >= 0 ? path.resolve(args[dirArg + 1]) : path.join(__dirname, '..')

// The directory that holds include/node/node_api.h for the running Node:
// <prefix>/include/node next to <prefix>/bin/node, as both Debian's package
// and the official tarballs lay it out.
function nodeDir () {
  const candidates = [path.resolve(path.dirname(process.execPath), '..')]
  if (process.env.NAT_NODEDIR) candidates.unshift(process.env.NAT_NODEDIR)
  for (const dir of candidates) {
    if (fs.existsSync(path.join(dir, 'include', 'node', 'node_api.h')) &&
        fs.existsSync(path.join(dir, 'include', 'node', 'common.gypi'))) {
      return dir
    }
  }
  return null
}

function nodeGyp () {
  try {
    return require.resolve('node-gyp/bin/node-gyp.js', { paths: [root, path.join(__dirname, '..')] })
  } catch {
    // A user's install with scripts allowed has no devDependencies: npm
    // passes the path of the node-gyp it bundles.
    if (process.env.npm_config_node_gyp) return process.env.npm_config_node_gyp
    return null
  }
}

function run (cmd, argv, env) {
  const r = spawnSync(cmd, argv, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } })
  if (r.error) throw r.error
  return r.status === null ? 1 : r.status
}

function fail (msg) {
  process.stderr.write(`napi-async-trace: ${msg}\n`)
  process.exit(1)
}

function gypArgs () {
  const dir = nodeDir()
  if (!dir) {
    fail(`no Node.js headers next to ${process.execPath} (expected ` +
      'include/node/node_api.h under its prefix). Install the headers of ' +
      'this Node (e.g. Debian: apt-get install libnode-dev, or an official ' +
      'tarball), or set NAT_NODEDIR to a directory that has include/node.')
  }
  return [`--nodedir=${dir}`]
}

function sourceBuild (extra = []) {
  const gyp = nodeGyp()
  if (!gyp) fail('node-gyp is not installed; run npm install first')
  const env = {}
  if (args.includes('--asan')) {
    const f = '-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined'
    env.CFLAGS = `${process.env.CFLAGS || ''} ${f}`
    env.LDFLAGS = `${process.env.LDFLAGS || ''} -fsanitize=address,undefined`
  }
  const debug = args.includes('--debug') ? ['--debug'] : []
  const status = run(process.execPath, [gyp, 'rebuild', ...gypArgs(), ...debug, ...extra], env)
  if (status !== 0) fail(`node-gyp rebuild failed (exit ${status})`)
}

function prebuildLoads () {
  const dir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`)
  if (!fs.existsSync(dir)) return false
  try {
    require('node-gyp-build').path(root)
    return true
  } catch {
    return false
  }
}

if (args.includes('--clean-prebuilds')) {
  fs.rmSync(path.join(root, 'prebuilds'), { recursive: true, force: true })
} else if (args.includes('--prebuild')) {
  const bin = require.resolve('prebuildify/bin.js', { paths: [root] })
  // prebuildify does not forward --nodedir to node-gyp; node-gyp reads it
  // from npm_config_nodedir instead, so nothing is downloaded.
  const dir = gypArgs()[0].slice('--nodedir='.length)
  const status = run(process.execPath, [bin, '--napi', '--strip'], { npm_config_nodedir: dir })
  if (status !== 0) fail(`prebuildify failed (exit ${status})`)
  // prebuildify moves the binary out of build/Release; put a copy back so
  // the work tree still loads its own build after `npm pack`.
  const name = `${process.platform}-${process.arch}`
  fs.copyFileSync(path.join(root, 'prebuilds', name, 'napi-async-trace.node'),
    path.join(root, 'build', 'Release', 'napi_async_trace.node'))
} else if (args.includes('--install')) {
  if (!prebuildLoads()) sourceBuild()
} else {
  sourceBuild()
}
