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
//   node scripts/build.js --arch arm64  cross-compile for linux-arm64 with
//                                       Debian's gcc-aarch64-linux-gnu
//
// --prebuild makes the linux-x64 and the linux-arm64 prebuilds on a
// linux-x64 machine: arm64 is cross-compiled with aarch64-linux-gnu-gcc
// against the running Node's headers (Node-API is ABI-stable, and its
// headers are the same for every architecture). Without that compiler the
// arm64 prebuild is left out with one line saying so, except for `npm
// publish` (or NAT_PREBUILD_ALL=1), which stops instead.
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

// Cross compilers for the prebuilds this package ships, by target arch
// (Debian's package names). Node-API needs no per-arch headers.
const CROSS = {
  arm64: { prefix: 'aarch64-linux-gnu-', pkg: 'gcc-aarch64-linux-gnu' }
}

function hasCross (arch) {
  const r = spawnSync(`${CROSS[arch].prefix}gcc`, ['--version'], { stdio: 'ignore' })
  return r.status === 0
}

// The environment and node-gyp arguments that build for `arch` (null: the
// host's). gyp's make generator takes the target compilers from CC, CXX
// and LINK; the addon is C only, so gcc also links.
function crossBuild (arch) {
  if (arch === null || arch === process.arch) return { env: hostLinkEnv(), args: [] }
  const c = CROSS[arch]
  if (process.platform !== 'linux' || process.arch !== 'x64' || c === undefined) {
    fail(`cross-compiling for ${arch} is supported from linux-x64 to ${Object.keys(CROSS).join(', ')} only`)
  }
  if (!hasCross(arch)) fail(`no ${c.prefix}gcc: apt-get install -y ${c.pkg}`)
  const cc = `${c.prefix}gcc`
  return {
    env: { CC: cc, CXX: cc, LINK: cc, AR: `${c.prefix}ar`, PREBUILD_STRIP_BIN: `${c.prefix}strip` },
    args: [`--arch=${arch}`]
  }
}

// gyp's make generator links with $(LINK), which defaults to the C++
// compiler. Every addon built here is C, so the C compiler links it: a
// machine with gcc and no g++ (a fresh Debian with `apt-get install gcc`)
// builds it too. LINK or CC from the environment win.
function hostLinkEnv () {
  if (process.platform !== 'linux' || process.env.LINK) return {}
  return { LINK: process.env.CC || 'gcc' }
}

const archArg = args.indexOf('--arch')
const targetArch = archArg >= 0 ? args[archArg + 1] : null

function sourceBuild (extra = []) {
  const gyp = nodeGyp()
  if (!gyp) fail('node-gyp is not installed; run npm install first')
  const cross = crossBuild(targetArch)
  extra = [...extra, ...cross.args]
  const env = { ...cross.env }
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
  // Cross builds first: each prebuildify run rebuilds build/, and the host
  // build must be the one left there.
  const archs = []
  if (process.platform === 'linux' && process.arch === 'x64') {
    if (hasCross('arm64')) {
      archs.push('arm64')
    } else if (process.env.npm_command === 'publish' || process.env.NAT_PREBUILD_ALL === '1') {
      fail(`the linux-arm64 prebuild needs ${CROSS.arm64.prefix}gcc: apt-get install -y ${CROSS.arm64.pkg}`)
    } else {
      process.stderr.write(`napi-async-trace: no linux-arm64 prebuild in this pack: ${CROSS.arm64.prefix}gcc is missing (apt-get install -y ${CROSS.arm64.pkg})\n`)
    }
  }
  for (const arch of [...archs, process.arch]) {
    const cross = crossBuild(arch)
    const status = run(process.execPath, [bin, '--napi', '--strip', '--arch', arch], { npm_config_nodedir: dir, ...cross.env })
    if (status !== 0) fail(`prebuildify for ${process.platform}-${arch} failed (exit ${status})`)
  }
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
