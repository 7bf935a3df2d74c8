#!/bin/bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# `make -C harness-c test`: the C-level tests. First the wasm2c parser unit
# tests (no privileges), then real-kernel runs of the consumer with both
# decoders, the generators and the tools: real BPF programs, real perf
# events, real ring buffers, as root. Each check prints "ok - NAME" or
# "not ok - NAME: why"; the last line is "N passed, N failed" (parsed by
# tests/run_all.ts), and the exit status is 1 if anything failed.
#
# Usage: tests/run.sh BUILD_DIR   (run from harness-c/, as make does)
# Kept short (about 20 s): rates and durations are small but real.
set -u

build=${1:-build}
bin=$(cd "$build" && pwd)
work=$(mktemp -d /tmp/streamprof-harness-test.XXXXXX)
passed=0
failed=0
children=()

cleanup() {
	for pid in "${children[@]}"; do
		kill "$pid" 2>/dev/null
	done
	wait 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ok() {
	passed=$((passed + 1))
	echo "ok - $1"
}

not_ok() {
	failed=$((failed + 1))
	echo "not ok - $1: $2"
}

# check NAME CONDITION-DESCRIPTION COMMAND...: the command's status decides.
check() {
	local name=$1 what=$2
	shift 2
	if "$@"; then ok "$name"; else not_ok "$name" "$what"; fi
}

# json_num FILE KEY: the first numeric value of "KEY": in a one-line JSON file.
json_num() {
	sed -n "s/.*\"$2\":\([0-9.]*\).*/\1/p" "$1" | head -n 1
}

# json_has FILE TEXT: the file contains TEXT literally.
json_has() {
	grep -qF -- "$2" "$1"
}

# stress_run NAME RATE SECONDS CONSUMER-ARGS...: a generator waiting for the
# consumer's SIGUSR1, the consumer attached to it; leaves $work/NAME.json
# (consumer), $work/NAME.gen (generator), $work/NAME.rc (consumer status).
stress_run() {
	local name=$1 rate=$2 secs=$3 gen
	shift 3
	"$bin/streamprof-stressgen" --rate "$rate" --duration "$secs" \
		--wait-signal 10 >"$work/$name.gen" 2>"$work/$name.gen.err" &
	gen=$!
	children+=("$gen")
	"$consumer" --source stress --target-pid "$gen" \
		--notify-pid "$gen" --duration "$(awk -v s="$secs" 'BEGIN { print s + 0.3 }')" "$@" \
		>"$work/$name.json" 2>"$work/$name.err"
	echo $? >"$work/$name.rc"
	wait "$gen"
}

# --- unit tests of the wasm2c parser (their own ok/not ok lines) -----------
unit_out=$("$bin/test-wasm-parser")
unit_rc=$?
echo "$unit_out" | grep -E '^(not )?ok - '
passed=$((passed + $(echo "$unit_out" | grep -c '^ok - ')))
failed=$((failed + $(echo "$unit_out" | grep -c '^not ok - ')))
if [ "$unit_rc" -ne 0 ] && ! echo "$unit_out" | grep -q '^not ok - '; then
	not_ok "wasm2c parser unit tests" "exit $unit_rc without a failed test line"
fi

# --- usage and setup errors (no privileges needed) ------------------------------
# expect_exit CODE NAME COMMAND...: the command exits with CODE; its stderr
# is kept in $work/last.err for a further look.
expect_exit() {
	local want=$1 name=$2 rc
	shift 2
	"$@" >"$work/last.out" 2>"$work/last.err"
	rc=$?
	if [ "$rc" -eq "$want" ]; then
		ok "$name"
	else
		not_ok "$name" "exit $rc: $(head -c 300 "$work/last.err")"
	fi
}

consumer=$bin/streamprof-consumer-c
expect_exit 0 "consumer: --help prints the options table (exit 0)" "$consumer" --help
check "consumer: --help lists every option with its default" "$(head -c 200 "$work/last.out")" \
	grep -q -- '--ring-size BYTES     ring buffer size' "$work/last.out"
expect_exit 2 "consumer: --decoder nope is a usage error (exit 2)" "$consumer" --decoder nope
expect_exit 2 "consumer: --record without --decoder wasm2c is a usage error" \
	"$consumer" --record "$work/x"
expect_exit 2 "consumer: --no-tables without --decoder wasm2c is a usage error" \
	"$consumer" --no-tables
expect_exit 2 "consumer: --stack-entries (no stack map any more) is a usage error" \
	"$consumer" --stack-entries 1024
expect_exit 2 "consumer: --ring-size 3M is a usage error (exit 2)" "$consumer" --ring-size 3M
check "consumer: --ring-size 3M says what is allowed" "$(cat "$work/last.err")" \
	grep -q 'must be a power of two from 4K to 1G' "$work/last.err"
expect_exit 2 "consumer: an empty --freq is a usage error (exit 2)" "$consumer" --freq ''
expect_exit 2 "consumer: an unexpected argument is a usage error (exit 2)" "$consumer" extra
expect_exit 2 "consumer: --steady-to without --steady-from is a usage error" \
	"$consumer" --steady-to 1
expect_exit 2 "consumer: a --steady-from after the end of the run is a usage error" \
	"$consumer" --duration 2 --steady-from 2
expect_exit 3 "consumer: a missing --bpf-object is a setup error (exit 3)" \
	"$consumer" --bpf-object "$work/none.bpf.o" --duration 0.1
expect_exit 2 "burn: --cpus 0 is a usage error (exit 2)" "$bin/streamprof-burn" --cpus 0
expect_exit 2 "stressgen: --duration 0 is a usage error (exit 2)" \
	"$bin/streamprof-stressgen" --duration 0
expect_exit 3 "stressgen: --wait-signal with no signal exits 3 without generating" \
	"$bin/streamprof-stressgen" --rate 10 --duration 1 --wait-signal 0.2
expect_exit 2 "wasm2c-walk: an empty corpus is rejected (exit 2)" \
	"$bin/streamprof-wasm2c-walk" --corpus /dev/null
expect_exit 2 "wasm2c-walk: --ring 0 is a usage error (exit 2)" \
	"$bin/streamprof-wasm2c-walk" --ring 0 /dev/null
expect_exit 2 "decode-bench: no FILE is a usage error (exit 2)" "$bin/streamprof-decode-bench"
expect_exit 2 "decode-bench: a FILE that does not exist is a usage error (exit 2)" \
	"$bin/streamprof-decode-bench" "$work/none.ring"

# --- real kernel ----------------------------------------------------------------
if [ "$(id -u)" -ne 0 ]; then
	not_ok "real-kernel tests" "need root (CAP_BPF, CAP_PERFMON): run as root"
	echo "$passed passed, $failed failed"
	exit 1
fi
if command -v setpriv >/dev/null; then
	expect_exit 3 "consumer: without root it is a setup error (exit 3)" \
		setpriv --reuid=65534 --regid=65534 --clear-groups "$consumer" --duration 0.1
fi
# A pid that is not running: the highest the kernel could hand out.
expect_exit 2 "consumer: --target-pid of no process is a usage error (exit 2)" \
	"$consumer" --source stress --target-pid 4194304 --duration 0.1
"$consumer" --hardware-events --duration 0.2 >/dev/null 2>"$work/hw.err"
rc=$?
check "consumer --hardware-events: runs, or says there is no PMU (exit 3)" "exit $rc: $(cat "$work/hw.err")" \
	test "$rc" -eq 0 -o \( "$rc" -eq 3 -a -n "$(grep 'no hardware PMU' "$work/hw.err")" \)

for dec in libbpf wasm2c; do
	stress_run "stress-$dec" 300000 1 --decoder "$dec" \
		--steady-from 0.3 --steady-to 0.9 \
		$([ "$dec" = wasm2c ] && echo --record "$work/ring.bin")
	j="$work/stress-$dec.json"
	calls=$(json_num "$work/stress-$dec.gen" getpid_calls)
	consumed=$(json_num "$j" consumed)
	if [ "$(cat "$work/stress-$dec.rc")" = 0 ] &&
		json_has "$j" '"reconciled":true' && json_has "$j" '"drops":0' &&
		json_has "$j" "\"decoder\":\"$dec\"" &&
		[ -n "$calls" ] && [ -n "$consumed" ] && [ "$consumed" -ge "$calls" ]; then
		ok "consumer --decoder $dec: stress 300k/s for 1 s, every call consumed ($consumed >= $calls), 0 drops, reconciled"
	else
		not_ok "consumer --decoder $dec: stress 300k/s for 1 s" \
			"exit $(cat "$work/stress-$dec.rc"), consumed ${consumed:-?}, calls ${calls:-?}: $(head -c 400 "$j") $(cat "$work/stress-$dec.err")"
	fi
	# 0.6 s of the 1 s at 300k/s: about 180,000 of the events, with CPU.
	steady=$(json_num "$j" events)
	check "consumer --decoder $dec: --steady-from/--steady-to report a window inside the run (${steady:-?} events)" \
		"$(grep -o '"steady":[^}]*}' "$j")" \
		test "${steady:-0}" -gt 100000 -a "${steady:-0}" -lt "${consumed:-0}" \
		-a -n "$(json_num "$j" startup_cpu_ns)" -a -n "$(json_num "$j" total_cpu_ns)"
done

consumed=$(json_num "$work/stress-wasm2c.json" consumed)
size=$(stat -c %s "$work/ring.bin" 2>/dev/null || echo 0)
check "consumer --record: the file holds every consumed record (40 bytes each)" \
	"$size bytes for ${consumed:-?} events" test "$size" -eq $((${consumed:-0} * 40))

"$bin/streamprof-wasm2c-walk" "$work/ring.bin" >"$work/walk.jsonl" 2>"$work/walk.err"
walk_rc=$?
walked=$(grep -v '"final"' "$work/walk.jsonl" | sed -n 's/.*"events":\([0-9]*\).*/\1/p' |
	awk '{ s += $1 } END { print s + 0 }')
check "wasm2c-walk: the recorded ring walks cleanly to the same event count" \
	"exit $walk_rc, $walked events walked vs ${consumed:-?} consumed: $(cat "$work/walk.err")" \
	test "$walk_rc" -eq 0 -a "$walked" -eq "${consumed:-0}" -a \
	"$(grep -c '"malformed":[1-9]' "$work/walk.jsonl")" -eq 0

"$bin/streamprof-decode-bench" "$work/ring.bin" --iterations 3 >"$work/decode.json" 2>"$work/decode.err"
check "decode-bench: wasm2c and hand-written C agree on the recorded ring" \
	"exit $?: $(cat "$work/decode.json" "$work/decode.err")" \
	json_has "$work/decode.json" '"agree":true'

# 1 kHz CPU sampling on busy CPUs: frames in every record, both decoders;
# the wasm2c parser with tables (aggregating), without, and with tables so
# small that walks stop tables-full and cut; then events without frames.
"$bin/streamprof-burn" --duration 8 >/dev/null 2>&1 &
burn=$!
children+=("$burn")
perf_run() {
	local name=$1 what=$2
	shift 2
	"$bin/streamprof-consumer-c" --freq 1000 --duration 1.2 "$@" \
		>"$work/perf-$name.json" 2>"$work/perf-$name.err"
	rc=$?
	events=$(json_num "$work/perf-$name.json" consumed)
	with_frames=$(json_num "$work/perf-$name.json" with_frames)
	check "consumer $(echo "$*" | sed 's| --record [^ ]*| --record|'): $what" \
		"exit $rc, ${events:-?} events, ${with_frames:-?} with frames: $(head -c 400 "$work/perf-$name.json") $(cat "$work/perf-$name.err")" \
		test "$rc" -eq 0 -a "${events:-0}" -gt 1000 -a \
		"$(grep -c '"stacks_match":true' "$work/perf-$name.json")" -eq 1
}
frames_everywhere() { [ "${with_frames:-0}" -eq "${events:-1}" ]; }
perf_run libbpf "1 kHz sampling of busy CPUs, every record with frames, stacks reconciled, 0 drops" \
	--decoder libbpf
check "consumer --decoder libbpf: every record carried frames" "$with_frames of $events" frames_everywhere
perf_run wasm2c "1 kHz sampling, tables and aggregation, every event aggregated, stacks reconciled" \
	--decoder wasm2c --record "$work/perf.ring"
check "consumer --decoder wasm2c: every record carried frames" "$with_frames of $events" frames_everywhere
check "consumer --decoder wasm2c: every event aggregated once" \
	"$(head -c 300 "$work/perf-wasm2c.json")" \
	json_has "$work/perf-wasm2c.json" '"every_event_aggregated":true}'
check "consumer --decoder wasm2c: the events handed on agree with the walk statistics" \
	"$(head -c 300 "$work/perf-wasm2c.json")" \
	json_has "$work/perf-wasm2c.json" '"events_match_walk":true'
perf_run no-tables "1 kHz sampling without tables (frame counts handed on), stacks reconciled" \
	--decoder wasm2c --no-tables
perf_run small-tables "1 kHz sampling with 2-entry tables: cut on tables-full, nothing lost" \
	--decoder wasm2c --table-entries 2
cuts=$(json_num "$work/perf-small-tables.json" table_cuts)
check "consumer --table-entries 2: walks stopped tables-full and were cut (${cuts:-?} cuts)" \
	"$(head -c 300 "$work/perf-small-tables.json")" \
	test "${cuts:-0}" -gt 0 -a "$(grep -c '"every_event_aggregated":true' "$work/perf-small-tables.json")" -eq 1
for dec in libbpf wasm2c; do
	perf_run "no-stacks-$dec" "plain events (no frames), reconciled" --decoder "$dec" --no-stacks
	check "consumer --decoder $dec --no-stacks: no record carried frames" \
		"$(head -c 300 "$work/perf-no-stacks-$dec.json")" \
		json_has "$work/perf-no-stacks-$dec.json" '"with_frames":0,'
done
kill "$burn" 2>/dev/null
wait "$burn" 2>/dev/null

# The recorded perf ring (records with frames, variable length): the
# wasm2c tool walks it cleanly, and the hand-written C walker decodes it as
# the wasm2c parser does.
consumed=$(json_num "$work/perf-wasm2c.json" consumed)
"$bin/streamprof-wasm2c-walk" "$work/perf.ring" >"$work/perf-walk.jsonl" 2>"$work/perf-walk.err"
walk_rc=$?
walked=$(grep -v '"final"' "$work/perf-walk.jsonl" | sed -n 's/.*"events":\([0-9]*\).*/\1/p' |
	awk '{ s += $1 } END { print s + 0 }')
check "wasm2c-walk: the recorded perf ring (records with frames) walks cleanly to the same event count" \
	"exit $walk_rc, $walked events walked vs ${consumed:-?} consumed: $(cat "$work/perf-walk.err")" \
	test "$walk_rc" -eq 0 -a "$walked" -eq "${consumed:-0}" -a \
	"$(grep -c '"malformed":[1-9]' "$work/perf-walk.jsonl")" -eq 0
"$bin/streamprof-decode-bench" "$work/perf.ring" --iterations 3 >"$work/perf-decode.json" 2>"$work/perf-decode.err"
check "decode-bench: wasm2c and hand-written C agree on the recorded perf ring (frames)" \
	"exit $?: $(cat "$work/perf-decode.json" "$work/perf-decode.err")" \
	json_has "$work/perf-decode.json" '"agree":true'

# A ring too small for the rate: drops counted, accounting still exact.
for dec in libbpf wasm2c; do
	stress_run "overflow-$dec" 400000 0.5 --decoder "$dec" --ring-size 4K --poll-ms 200
	j="$work/overflow-$dec.json"
	failed_reserve=$(sed -n 's/.*"reserve_failed":\([0-9]*\).*/\1/p' "$j")
	check "consumer --decoder $dec: a 4 KiB ring polled every 200 ms drops, exits 1, accounting exact" \
		"exit $(cat "$work/overflow-$dec.rc"), reserve_failed ${failed_reserve:-?}: $(head -c 300 "$j")" \
		test "$(cat "$work/overflow-$dec.rc")" -eq 1 -a "${failed_reserve:-0}" -gt 0 -a \
		"$(grep -c '"consumed_equals_submitted":true,"samples_balance":true' "$j")" -eq 1
done

# The statically linked consumer (VM guests) with the wasm2c decoder.
if [ -x "$bin/static/streamprof-consumer-c" ]; then
	consumer=$bin/static/streamprof-consumer-c
	stress_run "static" 100000 0.5 --decoder wasm2c \
		--bpf-object "$(pwd)/../ebpf/build/stress.bpf.o"
	check "static consumer --decoder wasm2c: stress 100k/s reconciled" \
		"exit $(cat "$work/static.rc"): $(head -c 300 "$work/static.json") $(cat "$work/static.err")" \
		test "$(cat "$work/static.rc")" -eq 0
	consumer=$bin/streamprof-consumer-c
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
