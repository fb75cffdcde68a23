#!/usr/bin/env node
'use strict'
// What `npm test` needs from the system beyond Node, gcc, make and
// pkg-config, checked before the tests start:
//
//   check        Debian `check`       the C core's Check suites (libcheck)
//   libuv        Debian `libuv1-dev`  uv.h for the core's standalone tests
//   chromium     Debian `chromium`    the HTML report's browser test
//
// Anything missing is installed when that is possible without asking: as
// root (or with password-less sudo) on a system with apt-get, one line each
// says what is installed and why. Otherwise the script stops with one line
// naming the exact command, and exits 1. NAT_NO_INSTALL=1 never installs
// (it only names the command). Exit 0 when everything is there.
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')

const NEEDS = [
  {
    pkg: 'check',
    why: 'the C core\'s Check suites (npm run test:core) link libcheck',
    present: () => pkgConfig('check')
  },
  {
    pkg: 'libuv1-dev',
    why: 'the C core\'s standalone tests compile against libuv\'s uv.h',
    present: () => pkgConfig('libuv')
  },
  {
    pkg: 'chromium',
    why: 'the HTML report\'s browser test (test/js/report-browser.test.js) drives it',
    present: () => fs.existsSync('/usr/bin/chromium')
  }
]

function pkgConfig (name) {
  const r = spawnSync('pkg-config', ['--exists', name], { stdio: 'ignore' })
  if (r.error) {
    say('pkg-config is missing: it is needed to find check and libuv (apt-get install -y pkg-config)')
    process.exit(1)
  }
  return r.status === 0
}

function say (line) {
  process.stderr.write(`napi-async-trace: ${line}\n`)
}

function has (cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0
}

// How to run apt-get without asking anybody: directly as root, through
// sudo when it needs no password, else null.
function privilege () {
  if (typeof process.getuid === 'function' && process.getuid() === 0) return []
  if (has('sudo') && spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0) return ['sudo', '-n']
  return null
}

function apt (prefix, args) {
  const [cmd, ...rest] = [...prefix, 'apt-get', ...args]
  const r = spawnSync(cmd, rest, {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  })
  return r.status === 0
}

function main () {
  const missing = NEEDS.filter((n) => !n.present())
  if (missing.length === 0) return 0
  const pkgs = missing.map((n) => n.pkg)
  const command = `sudo apt-get install -y --no-install-recommends ${pkgs.join(' ')}`
  const prefix = process.env.NAT_NO_INSTALL === '1' ? null : privilege()
  if (prefix === null || !has('apt-get')) {
    say(`npm test needs ${pkgs.join(', ')}: run \`${command}\` first`)
    return 1
  }
  for (const n of missing) say(`installing ${n.pkg} with apt-get: ${n.why}`)
  // The package lists of a fresh machine (or container) are often empty:
  // update them first when apt knows no candidate for a package.
  const known = (p) => /Candidate: (?!\(none\))/.test(spawnSync('apt-cache', ['policy', p], { encoding: 'utf8' }).stdout || '')
  if (!pkgs.every(known) && !apt(prefix, ['update', '-qq'])) {
    say(`apt-get update failed: run \`${command}\` once the package lists can be fetched`)
    return 1
  }
  if (!apt(prefix, ['install', '-y', '-qq', '--no-install-recommends', ...pkgs])) {
    say(`apt-get could not install ${pkgs.join(', ')}: run \`${command}\` and look at its output`)
    return 1
  }
  const still = missing.filter((n) => !n.present())
  if (still.length) {
    say(`${still.map((n) => n.pkg).join(', ')} installed but still not found; run \`${command}\` and check pkg-config`)
    return 1
  }
  return 0
}

process.exitCode = main()
