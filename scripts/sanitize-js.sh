#!/usr/bin/env bash
# The node:test suite against the addon and the consumer fixture built with
# AddressSanitizer + UBSan (gcc), in a temporary copy of the package, so the
# work tree's own build/ is never touched.
#
#   bash scripts/sanitize-js.sh              the whole suite
#   bash scripts/sanitize-js.sh test/js/faults.test.js ...   some files
#   NAT_KEEP_TMP=1 bash scripts/sanitize-js.sh   keep the copy afterwards
#
# Node itself is not instrumented: the ASan runtime is preloaded
# (LD_PRELOAD, as it must come first) into every node process the suite
# starts, children included. Leak detection is off: Node and V8 leave
# memory to process exit by design, which LSan would report by the
# thousand; memory errors (use-after-free, overflows) and undefined
# behaviour in our code are what this run is for. Every report is written
# to a log directory (log_path) and any file there fails the run, so a
# report from a child process whose exit status a test did not check
# still counts.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nat-asan.XXXXXX")
logs="$tmp/sanitizer-logs"
cleanup() { if [ -z "${NAT_KEEP_TMP:-}" ]; then rm -rf "$tmp"; else echo "kept $tmp"; fi; }
trap cleanup EXIT

# The package as the work tree has it: tracked files and new files git
# does not ignore (not build/, not node_modules/); node_modules is copied
# (npm pack bundles node-gyp-build from it, and a symlink would be bundled
# as a link).
pkg="$tmp/pkg"
mkdir -p "$pkg" "$logs"
(cd "$root" && git ls-files -z --cached --others --exclude-standard |
  while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
  tar --null -T - -cf -) | tar -xf - -C "$pkg"
cp -a "$root/node_modules" "$pkg/node_modules"

# Everything node-gyp builds in this run is instrumented: the addon, the
# consumer fixture, and the prebuild `npm pack` makes in the pack test (its
# prepack copies that binary back into build/Release).
san='-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined'
export CFLAGS="${CFLAGS:-} $san"
export CXXFLAGS="${CXXFLAGS:-} $san"
export LDFLAGS="${LDFLAGS:-} -fsanitize=address,undefined"

cd "$pkg"
echo "==> building the addon and the consumer fixture with ASan+UBSan in $pkg"
node scripts/build.js --asan > "$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; exit 1; }
node scripts/build.js --asan --dir test/fixtures/consumer > "$tmp/build-consumer.log" 2>&1 ||
  { cat "$tmp/build-consumer.log"; exit 1; }

instrumented() {
  for f in build/Release/napi_async_trace.node test/fixtures/consumer/build/Release/consumer.node; do
    if ! nm -D "$f" | grep -c __asan_init > /dev/null; then
      echo "sanitize-js: $f is not built with ASan" >&2
      return 1
    fi
  done
}
instrumented

asan_rt=$(gcc -print-file-name=libasan.so)
[ -e "$asan_rt" ] || { echo "sanitize-js: no ASan runtime at $asan_rt" >&2; exit 1; }
export LD_PRELOAD="$asan_rt"
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=0:detect_stack_use_after_return=0:log_path=$logs/asan"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$logs/ubsan"

files=("$@")
[ ${#files[@]} -gt 0 ] || files=(test/js/*.test.js)
echo "==> node --test under ASan+UBSan: ${files[*]}"
status=0
node --test --test-concurrency=1 "${files[@]}" || status=$?
unset LD_PRELOAD

# The pack test's prebuild replaced build/Release: it must still be ours.
instrumented || status=1
if compgen -G "$logs/*" > /dev/null; then
  echo "sanitize-js: sanitizer reports:" >&2
  for f in "$logs"/*; do echo "--- $f" >&2; head -n 60 "$f" >&2; done
  status=1
fi
if [ "$status" -eq 0 ]; then
  echo "sanitize-js: the JS suite passed under ASan+UBSan with no sanitizer report"
else
  echo "sanitize-js: FAILED" >&2
fi
exit "$status"
