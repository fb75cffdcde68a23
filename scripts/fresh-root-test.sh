#!/usr/bin/env bash
# The README's Quick start on a fresh Debian 12, as a newcomer meets it.
#
# Builds a Debian 12 (bookworm) root with debootstrap holding only what a
# new machine of this kind has (gcc, make, python3, git, pkg-config, as
# `apt-get install` gives them) plus
# the Node that runs this script (its binary, npm and headers: what the
# official tarball ships), clones this repository's HEAD into it, and runs
# the commands of the README's "Quick start" block inside it (chroot):
#
#   1. as an ordinary user (no root, no sudo): npm install and npm start
#      pass; npm test stops at once with one line naming the apt-get
#      command for what is missing (check, libuv1-dev, chromium);
#   2. as root: npm test installs them itself (one line each, what and
#      why) and passes, with the browser test run, not skipped.
#
# Needs root (debootstrap, chroot, mounts) and Debian's mirror (apt in the
# root) and the npm registry (npm install). The debootstrapped root is
# cached as .cache/fresh-root/base-<recipe hash>.tar.gz (git-ignored) and the
# .debs apt fetches in it under .cache/fresh-root/apt-archives, so reruns
# skip the downloads; delete .cache/fresh-root to start over
# (NAT_FRESH_ROOT_CACHE=<dir> keeps them elsewhere, as .ci/run does).
#
#   sudo bash scripts/fresh-root-test.sh
#   NAT_DEBIAN_MIRROR=http://mirror/debian bash scripts/fresh-root-test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
start=$SECONDS
step() { printf '\n--> fresh root: %s (%ds)\n' "$*" $((SECONDS - start)); }
die() { printf 'fresh-root-test: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root for debootstrap, chroot and mounts: run sudo bash scripts/fresh-root-test.sh"
mirror=${NAT_DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache=${NAT_FRESH_ROOT_CACHE:-$repo/.cache/fresh-root}
# What the base root holds: Debian's minimal base, then `apt-get install`
# of the packages a new machine of this kind has, as an admin would type it
# (recommends included: gcc brings libc6-dev that way). The recipe names
# the cached tarball, so changing it builds a new one.
base_pkgs="gcc make python3 git pkg-config"
recipe="bookworm minbase ca-certificates; apt-get install $base_pkgs"
base=$cache/base-$(printf '%s' "$recipe" | sha256sum | cut -c1-12).tar.gz
mkdir -p "$cache/apt-archives/partial"

if ! command -v debootstrap >/dev/null; then
  echo "fresh-root-test: installing debootstrap with apt-get: it builds the fresh Debian 12 root"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null; } ||
    die "could not install debootstrap: run apt-get install -y debootstrap"
fi

work=$(mktemp -d /tmp/nat-fresh-root.XXXXXX)
root=$work/root
mounts=()
cleanup() {
  local i
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount -l "${mounts[i]}" 2>/dev/null || true; done
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT

if [ ! -f "$base" ]; then
  step "debootstrap Debian 12 ($recipe), cached in $base"
  b=$work/build
  debootstrap --variant=minbase --include=ca-certificates bookworm "$b" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log"; die "debootstrap failed (log above)"; }
  cp /etc/resolv.conf "$b/etc/resolv.conf"
  mount -t proc proc "$b/proc" && mounts+=("$b/proc")
  chroot "$b" /usr/bin/env -i PATH=/usr/bin:/bin:/usr/sbin:/sbin DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq $base_pkgs >>"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log"; die "apt-get install $base_pkgs failed in the new root"; }
  umount "$b/proc" && unset 'mounts[-1]'
  chroot "$b" apt-get clean
  rm -f "$b/etc/resolv.conf"
  tar -C "$b" -czf "$base.tmp" . && mv "$base.tmp" "$base"
  rm -rf --one-file-system "$b"
fi

step "unpack the root"
mkdir "$root"
tar -C "$root" -xzf "$base"
# A Debian 12 machine's usual sources; resolv.conf from the host.
cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF
cp /etc/resolv.conf "$root/etc/resolv.conf"
# The host's own certificate authorities (a network that inspects TLS, as
# this CI's does, signs with one): a machine of this kind has them too.
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
  chroot "$root" update-ca-certificates >/dev/null 2>&1 || die "update-ca-certificates failed in the root"
fi

# The Node that runs this script, laid out as the official tarball does
# (bin/node, include/node, lib/node_modules/npm) under /usr/local.
node_bin=$(readlink -f "$(command -v node)")
node_prefix=$(dirname "$(dirname "$node_bin")")
npm_dir=$(npm root -g)/npm
[ -f "$node_prefix/include/node/node_api.h" ] || die "no headers at $node_prefix/include/node for $node_bin"
install -D -m 755 "$node_bin" "$root/usr/local/bin/node"
mkdir -p "$root/usr/local/include" "$root/usr/local/lib/node_modules"
cp -a "$node_prefix/include/node" "$root/usr/local/include/node"
cp -a "$npm_dir" "$root/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"

for m in proc sys dev dev/pts; do
  mkdir -p "$root/$m"
  case $m in
    proc) mount -t proc proc "$root/proc" ;;
    sys) mount -t sysfs sysfs "$root/sys" ;;
    dev) mount --bind /dev "$root/dev" ;;
    dev/pts) mount -t devpts devpts "$root/dev/pts" -o newinstance,ptmxmode=0666 ;;
  esac
  mounts+=("$root/$m")
done
mount -t tmpfs -o mode=1777 tmpfs "$root/dev/shm" && mounts+=("$root/dev/shm")
mount --bind "$cache/apt-archives" "$root/var/cache/apt/archives" && mounts+=("$root/var/cache/apt/archives")

chroot "$root" useradd -m -s /bin/bash newcomer
uid=$(chroot "$root" id -u newcomer)
src=/home/newcomer/napi-async-trace
git clone -q --no-hardlinks "$repo" "$root$src"
chroot "$root" chown -R newcomer:newcomer "$src"

# The commands of the README's Quick start block, in order.
mapfile -t cmds < <(awk '/^## Quick start/ { on = 1; next } on && /^## / { exit }
  on && /^    [a-z]/ { sub(/^    /, ""); sub(/[ \t]+#.*/, ""); print }' "$repo/README.md")
[ "${#cmds[@]}" -ge 3 ] || die "could not read the Quick start commands from README.md"
printf 'Quick start: %s\n' "${cmds[@]}"
for c in "${cmds[@]}"; do
  case $c in "npm install" | "npm start" | "npm test") ;; *) die "Quick start has a command this test does not know: $c" ;; esac
done

in_root() { # in_root USER COMMAND...
  local who=$1; shift
  local spec=() home=/root
  if [ "$who" != root ]; then spec=(--userspec="$uid:$uid"); home=/home/newcomer; fi
  chroot "${spec[@]}" "$root" /usr/bin/env -i HOME="$home" USER="$who" LANG=C.UTF-8 \
    PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin TERM=dumb CI=1 \
    ${http_proxy:+http_proxy=$http_proxy} ${https_proxy:+https_proxy=$https_proxy} \
    ${NODE_EXTRA_CA_CERTS:+NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt} \
    bash -c "cd $src && $*"
}

out=$work/out.txt
for c in "${cmds[@]}"; do
  if [ "$c" = "npm test" ]; then
    step "as user newcomer: npm test must stop at once, naming the command"
    set +e
    in_root newcomer "npm test" >"$out" 2>&1
    status=$?
    set -e
    lines=$(grep -c '^napi-async-trace: ' "$out" || true)
    if [ "$status" -eq 0 ] || [ "$lines" -ne 1 ] ||
      ! grep -q '^napi-async-trace: npm test needs check, libuv1-dev, chromium: run `sudo apt-get install -y --no-install-recommends check libuv1-dev chromium` first$' "$out"; then
      cat "$out"
      die "npm test as an ordinary user on a fresh machine: expected exit != 0 and one line naming the apt-get command (status $status, $lines lines)"
    fi
    grep '^napi-async-trace: ' "$out"
  else
    step "as user newcomer: $c"
    in_root newcomer "$c" >"$out" 2>&1 || { tail -40 "$out"; die "'$c' failed in the fresh root"; }
    tail -3 "$out"
  fi
done

step "as root: npm test installs what it needs and passes"
in_root root "npm test" >"$out" 2>&1 || { tail -60 "$out"; die "npm test as root in the fresh root failed"; }
grep '^napi-async-trace: installing ' "$out"
[ "$(grep -c '^napi-async-trace: installing ' "$out")" -eq 3 ] || die "expected one 'installing' line for each of check, libuv1-dev, chromium"
grep -E '^# (tests|pass|fail|skipped)' "$out"
grep -q '^# fail 0$' "$out" || die "node:test failures in the fresh root"
grep '# SKIP' "$out" || true
grep '^ok .* - a native chain: zoom, pan, click a frame' "$out" | grep -vq '# SKIP' || die "the browser test did not run in the fresh root"

step "passed"
