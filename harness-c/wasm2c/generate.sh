#!/bin/sh
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# Generate C from parser-wasm/build/parser.wasm with Debian's native wasm2c
# (wabt 1.0.32): generate.sh IN.wasm OUTDIR LOWER_TOOL
#
# wabt 1.0.32's wasm2c cannot translate atomics at all (it rejects the threads
# feature), and the parser reads record headers with i32.atomic.load. So:
#   1. list the module's 0xfe-prefixed (threads) instructions with
#      wasm-objdump; refuse anything but i32.atomic.load, and refuse a module
#      that already uses i64.load32_u (the marker the next steps rely on);
#   2. rewrite each i32.atomic.load into i64.load32_u + i32.wrap_i64 (same
#      length, same value: wasm_lower_atomics.c) and validate the result
#      without threads;
#   3. wasm2c it with module name "parser" (symbols Z_parserZ_<export>);
#   4. replace wasm2c's generic i64_load32_u with an acquire load
#      (wasm2c/acquire_load.h), checking that exactly one definition was
#      replaced and that the generated code calls it once per lowered load.
# Any failed check stops the build with a message and leaves no output.
set -eu

in=$1
outdir=$2
lower=$3

fail() {
	echo "wasm2c/generate.sh: $*" >&2
	rm -rf "$outdir/parser.c" "$outdir/parser.h" "$outdir/parser-lowered.wasm" \
		"$outdir/tmp"
	exit 1
}

for tool in wasm-objdump wasm-validate wasm2c; do
	command -v "$tool" >/dev/null 2>&1 ||
		fail "$tool not found: install Debian's wabt package (make setup)"
done
mkdir -p "$outdir"

dis=$(wasm-objdump -d "$in") || fail "wasm-objdump -d $in failed"
# Lines look like: " 0002f4: fe 10 02 00                | i32.atomic.load 2 0"
threads=$(printf '%s\n' "$dis" | awk -F'|' '$1 ~ /^ *[0-9a-f]+: fe / { print }')
offsets=$(printf '%s\n' "$threads" | awk -F: '/:/ { gsub(/ /, "", $1); print $1 }')
count=$(printf '%s\n' "$threads" | grep -c 'i32\.atomic\.load ' || true)
total=$(printf '%s\n' "$threads" | grep -c . || true)
[ "$count" = "$total" ] ||
	fail "$in has threads instructions other than i32.atomic.load:
$threads"
[ "$count" -ge 1 ] || fail "$in has no i32.atomic.load: nothing to lower (did the parser change?)"
if printf '%s\n' "$dis" | grep -q 'i64\.load32_u'; then
	fail "$in already uses i64.load32_u, which marks lowered atomic loads"
fi

# shellcheck disable=SC2086 # one argument per offset
"$lower" "$in" "$outdir/parser-lowered.wasm" $offsets ||
	fail "lowering the atomic loads failed"
wasm-validate "$outdir/parser-lowered.wasm" ||
	fail "the lowered module does not validate"
# wasm2c names the header after the output file and includes it by that name,
# so generate into a scratch folder and move both into place once all passed.
rm -rf "$outdir/tmp"
mkdir -p "$outdir/tmp"
wasm2c -n parser "$outdir/parser-lowered.wasm" -o "$outdir/tmp/parser.c" ||
	fail "wasm2c failed"

gen="$outdir/tmp/parser.c"
defs=$(grep -c '^DEFINE_LOAD(i64_load32_u, u32, u64, u64)$' "$gen" || true)
[ "$defs" = 1 ] ||
	fail "expected one 'DEFINE_LOAD(i64_load32_u, u32, u64, u64)' in the generated C, found $defs (wasm2c is not 1.0.32?)"
sed -i "s|^DEFINE_LOAD(i64_load32_u, u32, u64, u64)\$|#include \"acquire_load.h\"|" \
	"$gen"
calls=$(grep -c 'i64_load32_u(&instance->w2c_memory' "$gen" || true)
[ "$calls" = "$count" ] ||
	fail "expected $count acquire-load call sites in the generated C, found $calls"
mv "$outdir/tmp/parser.h" "$outdir/parser.h"
mv "$gen" "$outdir/parser.c"
rmdir "$outdir/tmp"
echo "wasm2c/generate.sh: $count i32.atomic.load lowered to acquire loads; $outdir/parser.c, parser.h"
