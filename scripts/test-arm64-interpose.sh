#!/usr/bin/env bash
# Builds the interposer (src/interpose) and its standalone test
# (test/core/interpose/standalone.c) with the test objects for aarch64 and
# runs the test under qemu-user. The same properties as the Check suite
# "interpose": lazy PLT, BIND_NOW + RELRO and -fno-plt (GLOB_DAT) consumers,
# restore, protections, untouched objects, a thread calling during
# rebind/restore.
#
#   bash scripts/test-arm64-interpose.sh           aarch64 under qemu-user
#   bash scripts/test-arm64-interpose.sh --native  the host's gcc, no qemu
#   CC=musl-gcc bash scripts/test-arm64-interpose.sh --native
#                                       musl's loader (Debian musl-tools)
#
# Needs (Debian): gcc-aarch64-linux-gnu libc6-dev-arm64-cross
# qemu-user-static (or qemu-user). Exits 1 naming the missing package when
# one is missing: a test that could not run never passes.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SRC=$ROOT/test/core/interpose

if [[ ${1:-} == --native ]]; then
  CC=${CC:-gcc}
  OUT=$ROOT/test/core/out/ip-native-$(basename "$CC")
  RUN=()
else
  CC=${CC:-aarch64-linux-gnu-gcc}
  SYSROOT=${SYSROOT:-/usr/aarch64-linux-gnu}
  OUT=$ROOT/test/core/out/ip-arm64
  QEMU=$(command -v qemu-aarch64-static || command -v qemu-aarch64 || true)
  missing=()
  command -v "$CC" >/dev/null || missing+=(gcc-aarch64-linux-gnu)
  [[ -e $SYSROOT/include/stdio.h ]] || missing+=(libc6-dev-arm64-cross)
  [[ -n $QEMU ]] || missing+=(qemu-user-static)
  if ((${#missing[@]})); then
    echo "test-arm64-interpose: missing; install with: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
  RUN=("$QEMU" -L "$SYSROOT")
fi

mkdir -p "$OUT"
FLAGS=(-std=gnu11 -O1 -g -Wall -Wextra -Werror)
SO=(-fPIC -shared)
LINK=(-L"$OUT" -lnat_ipp "-Wl,-rpath,\$ORIGIN")
set -x
"$CC" "${FLAGS[@]}" "${SO[@]}" -o "$OUT/libnat_ipp.so" "$SRC/provider.c"
"$CC" "${FLAGS[@]}" "${SO[@]}" -Wl,-z,lazy -o "$OUT/libnat_ipc_lazy.so" \
  "$SRC/consumer.c" "${LINK[@]}"
"$CC" "${FLAGS[@]}" "${SO[@]}" -Wl,-z,now -Wl,-z,relro \
  -o "$OUT/libnat_ipc_now.so" "$SRC/consumer.c" "${LINK[@]}"
"$CC" "${FLAGS[@]}" "${SO[@]}" -fno-plt -DNAT_IPC_ADDR -Wl,-z,now \
  -Wl,-z,relro -o "$OUT/libnat_ipc_noplt.so" "$SRC/consumer.c" "${LINK[@]}"
"$CC" "${FLAGS[@]}" "${SO[@]}" -DNAT_IPC_TABLE -Wl,-z,lazy \
  -o "$OUT/libnat_ipc_table.so" "$SRC/consumer.c" "${LINK[@]}"
"$CC" "${FLAGS[@]}" "${SO[@]}" -o "$OUT/libnat_ipn.so" "$SRC/none.c"
"$CC" "${FLAGS[@]}" -I"$ROOT/include" -I"$ROOT/src/interpose" \
  -rdynamic -o "$OUT/ip_standalone" "$SRC/standalone.c" \
  "$ROOT/src/interpose/interpose.c" -ldl -pthread
# The same with /proc/self/maps unreadable: protections guessed from the
# ELF headers, every store between two mprotects.
"$CC" "${FLAGS[@]}" -I"$ROOT/include" -I"$ROOT/src/interpose" \
  -DNAT_IP_MAPS='"/nonexistent/maps"' -DNAT_IP_TEST_NO_MAPS \
  -rdynamic -o "$OUT/ip_standalone_nomaps" "$SRC/standalone.c" \
  "$ROOT/src/interpose/interpose.c" -ldl -pthread
{ set +x; } 2>/dev/null

# What the relocations of the consumers are, for the log.
if command -v readelf >/dev/null; then
  for k in lazy now noplt table; do
    printf '%s: ' "$k"
    readelf -rW "$OUT/libnat_ipc_$k.so" | awk '$5 ~ /^nat_ipp_/ {print $3}' | sort | uniq -c | tr '\n' ' '
    echo
  done
fi

"${RUN[@]}" "$OUT/ip_standalone" "$OUT"
"${RUN[@]}" "$OUT/ip_standalone_nomaps" "$OUT"

# Real prebuilt addons, when named: NAT_IP_ADDONS="a.node b.node" (for this
# architecture). Each is loaded (lazily: nothing of Node-API is called),
# its async-work and threadsafe-function imports rebound and restored.
# Lazily bound ones only (bcrypt, classic-level, @parcel/watcher): a
# BIND_NOW addon (napi-rs) needs every napi function at load, that is node;
# test/core/interpose/preload.c checks those inside the real node.
NAMES=napi_create_async_work,napi_queue_async_work,napi_cancel_async_work
NAMES+=,napi_delete_async_work,napi_create_threadsafe_function
NAMES+=,napi_call_threadsafe_function,napi_acquire_threadsafe_function
NAMES+=,napi_release_threadsafe_function,napi_ref_threadsafe_function
NAMES+=,napi_unref_threadsafe_function
for addon in ${NAT_IP_ADDONS:-}; do
  "${RUN[@]}" "$OUT/ip_standalone" --object "$addon" "$NAMES"
done
