#!/bin/sh
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# Generate C from parser-wasm/build/parser.wasm with Debian's native wasm2c
# (wabt 1.0.32): generate.sh IN.wasm OUTDIR
#
# wabt 1.0.32's wasm2c implements no part of the threads proposal: without
# --enable-threads it stops at the first atomic opcode ("unexpected opcode:
# 0xfe 0x10"), and with it, it refuses outright ("wasm2c currently only
# supports a limited set of features"). The parser is therefore built without
# threads (parser-wasm/asconfig.json); this script says so plainly if that
# ever changes, instead of failing inside wasm2c.
#
# The module is generated with module name "parser": the instance type is
# Z_parser_instance_t and export X is Z_parserZ_X (wasm2c 1.0.32 mangling;
# newer wabt names them w2c_parser... instead). wasm2c names the header after
# the output file and includes it by that name, so generation happens in a
# scratch folder and both files move into place only when all went well.
set -eu

in=$1
outdir=$2
script=wasm2c/generate.sh
scratch=$outdir/tmp
. "$(dirname "$0")/fail.sh"

for tool in wasm-objdump wasm2c; do
	command -v "$tool" >/dev/null 2>&1 ||
		fail "$tool not found: install Debian's wabt package (make setup)"
done
mkdir -p "$outdir"

# Lines look like: " 0002f4: fe 10 02 00                | i32.atomic.load 2 0"
threads=$(wasm-objdump -d "$in" | awk -F'|' '$1 ~ /^ *[0-9a-f]+: fe / { print }') ||
	fail "wasm-objdump -d $in failed"
if [ -n "$threads" ]; then
	fail "$in uses threads instructions, which wasm2c $(wasm2c --version) cannot translate:
$threads
build the parser without --enable threads (parser-wasm/asconfig.json)"
fi

rm -rf "$scratch"
mkdir -p "$scratch"
wasm2c -n parser "$in" -o "$scratch/parser.c" || fail "wasm2c failed"
grep -q 'Z_parserZ_walk(Z_parser_instance_t' "$scratch/parser.h" ||
	fail "the generated header has no Z_parserZ_walk: not wasm2c 1.0.32's naming?"
mv "$scratch/parser.h" "$outdir/parser.h"
mv "$scratch/parser.c" "$outdir/parser.c"
rmdir "$scratch"
echo "wasm2c/generate.sh: $outdir/parser.c, parser.h from $in"
