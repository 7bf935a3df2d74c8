// The wire format has one definition, ebpf/profile_event.h. This test
// compiles a small C program against it with gcc, which prints the sizes,
// offsets, signedness and macros as JSON, and checks every number against
// lib/parser/layout.ts AND parser-wasm/assembly/layout.ts (whose
// `export const NAME: u32 = N` lines it parses). gcc is part of setup
// (make setup-apt): without it the test fails, on CI and off it.
import assert from "node:assert/strict";
import {
  BPF_NAMES,
  BUSY_BIT,
  CONFIG_OFFSETS,
  CONFIG_SIZE,
  COUNTER_FIELDS,
  COUNTERS_SIZE,
  DISCARD_BIT,
  EVENT_OFFSETS,
  EVENT_SIZE,
  EventFlags,
  MODULE_ABI,
  RECORD_HEADER_SIZE,
  RECORD_MAX,
  RECORD_SIZE,
  STACK_DEPTH,
  StackId,
} from "../lib/parser/layout.ts";
import { STOP_REASONS } from "../lib/parser/walk_stats.ts";
import { referenceDecodeEvent } from "../lib/parser/reference_decoder.ts";
import { WASM_MODULE } from "../lib/parser/test_helpers.ts";

const ROOT = new URL("../", import.meta.url).pathname;

const C_PROGRAM = String.raw`
#include <stddef.h>
#include <stdio.h>
#include <linux/bpf.h>
#include "profile_event.h"

static int first = 1;
static void key(const char *k) {
  printf("%s\"%s\":", first ? "" : ",", k);
  first = 0;
}
static void num(const char *k, unsigned long long v) {
  key(k);
  printf("%llu", v);
}
static void str(const char *k, const char *v) {
  key(k);
  printf("\"%s\"", v);
}

#define SIGNED(T, F) ((__typeof__(((struct T *)0)->F))-1 < 0)
#define FIELD(T, F)                                                        \
  do {                                                                     \
    key(#T "." #F);                                                        \
    printf("{\"offset\":%zu,\"size\":%zu,\"signed\":%s}",                  \
           offsetof(struct T, F), sizeof(((struct T *)0)->F),              \
           SIGNED(T, F) ? "true" : "false");                               \
  } while (0)

int main(void) {
  printf("{");
  num("sizeof.profile_event", sizeof(struct profile_event));
  num("sizeof.profiler_counters", sizeof(struct profiler_counters));
  num("sizeof.profiler_config", sizeof(struct profiler_config));
  FIELD(profile_event, timestamp_ns);
  FIELD(profile_event, pid);
  FIELD(profile_event, tid);
  FIELD(profile_event, user_stack_id);
  FIELD(profile_event, kernel_stack_id);
  FIELD(profile_event, cpu);
  FIELD(profile_event, flags);
  FIELD(profiler_counters, samples_seen);
  FIELD(profiler_counters, events_submitted);
  FIELD(profiler_counters, reserve_failed);
  FIELD(profiler_counters, idle_skipped);
  FIELD(profiler_counters, filtered);
  FIELD(profiler_counters, user_stack_truncated);
  FIELD(profiler_counters, kernel_stack_truncated);
  FIELD(profiler_counters, user_stack_errors);
  FIELD(profiler_counters, kernel_stack_errors);
  FIELD(profiler_counters, user_stack_empty);
  FIELD(profiler_counters, kernel_stack_empty);
  FIELD(profiler_counters, user_frames);
  FIELD(profiler_counters, kernel_frames);
  FIELD(profiler_config, target_pid);
  FIELD(profiler_config, skip_idle);
  FIELD(profiler_config, collect_stacks);
  FIELD(profiler_config, target_tid);
  num("PROFILE_EVENT_SIZE", PROFILE_EVENT_SIZE);
  num("PROFILER_COUNTERS_SIZE", PROFILER_COUNTERS_SIZE);
  num("PROFILER_CONFIG_SIZE", PROFILER_CONFIG_SIZE);
  num("PROFILER_STACK_DEPTH", PROFILER_STACK_DEPTH);
  num("PROFILE_RECORD_MAX", PROFILE_RECORD_MAX);
  num("PE_FLAG_USER_TRUNCATED", PE_FLAG_USER_TRUNCATED);
  num("PE_FLAG_KERNEL_TRUNCATED", PE_FLAG_KERNEL_TRUNCATED);
  num("PE_FLAG_USER_STACK_ERROR", PE_FLAG_USER_STACK_ERROR);
  num("PE_FLAG_KERNEL_STACK_ERROR", PE_FLAG_KERNEL_STACK_ERROR);
  num("PE_FLAG_FRAMES", PE_FLAG_FRAMES);
  str("PROFILER_PROG_NAME", PROFILER_PROG_NAME);
  str("PROFILER_RINGBUF_MAP", PROFILER_RINGBUF_MAP);
  str("PROFILER_COUNTERS_MAP", PROFILER_COUNTERS_MAP);
  str("PROFILER_RODATA_MAP", PROFILER_RODATA_MAP);
  str("STRESS_PROG_NAME", STRESS_PROG_NAME);
  str("STRESS_RODATA_MAP", STRESS_RODATA_MAP);
  /* The ring buffer record format comes from the kernel's UAPI. */
  num("BPF_RINGBUF_BUSY_BIT", BPF_RINGBUF_BUSY_BIT);
  num("BPF_RINGBUF_DISCARD_BIT", BPF_RINGBUF_DISCARD_BIT);
  num("BPF_RINGBUF_HDR_SZ", BPF_RINGBUF_HDR_SZ);
  printf("}\n");
  return 0;
}
`;

interface Field {
  offset: number;
  size: number;
  signed: boolean;
}
type CLayout = Record<string, number | string | Field>;

/** Compiles and runs the C program; fails the test if gcc is missing. */
async function cLayout(): Promise<CLayout> {
  const dir = await Deno.makeTempDir({ prefix: "streamprof-layout-" });
  try {
    const src = `${dir}/layout.c`;
    const exe = `${dir}/layout`;
    await Deno.writeTextFile(src, C_PROGRAM);
    let out: Deno.CommandOutput;
    try {
      out = await new Deno.Command("gcc", {
        args: [
          "-std=gnu11",
          "-Wall",
          "-Werror",
          `-I${ROOT}ebpf`,
          src,
          "-o",
          exe,
        ],
      }).output();
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) {
        throw new Error(
          `gcc is required for the layout test (it is part of setup: make setup-apt)${
            Deno.env.get("CI") === "true" ? " [CI]" : ""
          }`,
        );
      }
      throw err;
    }
    assert.equal(
      out.code,
      0,
      `gcc failed:\n${new TextDecoder().decode(out.stderr)}`,
    );
    const run = await new Deno.Command(exe).output();
    assert.equal(run.code, 0);
    return JSON.parse(new TextDecoder().decode(run.stdout));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** `export const NAME: u32 = EXPR;` of the WASM layout, evaluated. */
async function wasmLayout(): Promise<Map<string, number>> {
  const text = await Deno.readTextFile(
    `${ROOT}parser-wasm/assembly/layout.ts`,
  );
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!/^\s*export\s/.test(line)) continue;
    const m = line.match(
      /^export const ([A-Z_][A-Z0-9_]*): u32 = (0x[0-9a-fA-F]+|\d+)(?: << (\d+))?;\s*(\/\/.*)?$/,
    );
    assert.ok(m, `unparsed export in parser-wasm/assembly/layout.ts: ${line}`);
    const base = Number(m[2]);
    const value = m[3] === undefined ? base : base * 2 ** Number(m[3]);
    assert.ok(value <= 0xffffffff, `${m[1]} does not fit a u32`);
    assert.ok(!out.has(m[1]), `${m[1]} exported twice`);
    out.set(m[1], value);
  }
  return out;
}

const camel = (s: string) => s.replace(/_([a-z])/g, (_, c) => c.toUpperCase());

const C = await cLayout();
const W = await wasmLayout();
const field = (k: string) => C[k] as Field;

Deno.test("layout: struct profile_event matches both layout files", () => {
  assert.equal(C["sizeof.profile_event"], 32);
  assert.equal(C["PROFILE_EVENT_SIZE"], C["sizeof.profile_event"]);
  assert.equal(EVENT_SIZE, C["sizeof.profile_event"]);
  assert.equal(W.get("EVENT_SIZE"), C["sizeof.profile_event"]);
  const cFields = Object.keys(C)
    .filter((k) => k.startsWith("profile_event."))
    .map((k) => k.slice("profile_event.".length));
  // Every C field has a TS offset, and nothing else is there.
  assert.deepStrictEqual(
    Object.keys(EVENT_OFFSETS).sort(),
    cFields.map(camel).sort(),
  );
  const wasmName: Record<string, string> = {
    timestamp_ns: "OFF_TIMESTAMP",
    pid: "OFF_PID",
    tid: "OFF_TID",
    user_stack_id: "OFF_USER_STACK",
    kernel_stack_id: "OFF_KERNEL_STACK",
    cpu: "OFF_CPU",
    flags: "OFF_FLAGS",
  };
  let end = 0;
  for (const f of cFields) {
    const c = field(`profile_event.${f}`);
    const ts = EVENT_OFFSETS[camel(f) as keyof typeof EVENT_OFFSETS];
    assert.equal(ts, c.offset, `lib/parser/layout.ts offset of ${f}`);
    assert.equal(W.get(wasmName[f]), c.offset, `wasm ${wasmName[f]}`);
    // Packed without holes, in order.
    assert.equal(c.offset, end, `${f} follows the previous field`);
    end = c.offset + c.size;
  }
  assert.equal(end, EVENT_SIZE);
});

Deno.test("layout: field widths and signedness match the reference decoder", () => {
  // All-ones bytes decode to -1 in signed fields, to the maximum in
  // unsigned ones: the decoder's choice must be the header's.
  const ones = new DataView(new Uint8Array(32).fill(0xff).buffer);
  const e = referenceDecodeEvent(ones, 0) as unknown as Record<
    string,
    number | bigint
  >;
  for (const [k, v] of Object.entries(C)) {
    if (!k.startsWith("profile_event.")) continue;
    const f = v as Field;
    const got = e[camel(k.slice("profile_event.".length))];
    const want = f.signed
      ? -1
      : f.size === 8
      ? 0xffffffffffffffffn
      : 2 ** (8 * f.size) - 1;
    assert.equal(got, want, `${k}: ${f.size} bytes, signed ${f.signed}`);
  }
});

Deno.test("layout: record header format matches the kernel UAPI", () => {
  assert.equal(RECORD_HEADER_SIZE, C["BPF_RINGBUF_HDR_SZ"]);
  assert.equal(W.get("RECORD_HEADER_SIZE"), C["BPF_RINGBUF_HDR_SZ"]);
  assert.equal(BUSY_BIT, C["BPF_RINGBUF_BUSY_BIT"]);
  assert.equal(W.get("BUSY_BIT"), C["BPF_RINGBUF_BUSY_BIT"]);
  assert.equal(DISCARD_BIT, C["BPF_RINGBUF_DISCARD_BIT"]);
  assert.equal(W.get("DISCARD_BIT"), C["BPF_RINGBUF_DISCARD_BIT"]);
  assert.equal(RECORD_SIZE, RECORD_HEADER_SIZE + EVENT_SIZE);
  assert.equal(RECORD_SIZE % 8, 0, "an event record needs no padding");
});

/** The WASM layout constants that mirror the header (checked against C). */
const WIRE = new Map<string, () => number>([
  ["EVENT_SIZE", () => C["sizeof.profile_event"] as number],
  ["OFF_TIMESTAMP", () => field("profile_event.timestamp_ns").offset],
  ["OFF_PID", () => field("profile_event.pid").offset],
  ["OFF_TID", () => field("profile_event.tid").offset],
  ["OFF_USER_STACK", () => field("profile_event.user_stack_id").offset],
  ["OFF_KERNEL_STACK", () => field("profile_event.kernel_stack_id").offset],
  ["OFF_CPU", () => field("profile_event.cpu").offset],
  ["OFF_FLAGS", () => field("profile_event.flags").offset],
  ["RECORD_HEADER_SIZE", () => C["BPF_RINGBUF_HDR_SZ"] as number],
  ["BUSY_BIT", () => C["BPF_RINGBUF_BUSY_BIT"] as number],
  ["DISCARD_BIT", () => C["BPF_RINGBUF_DISCARD_BIT"] as number],
  ["FLAG_USER_TRUNCATED", () => C["PE_FLAG_USER_TRUNCATED"] as number],
  ["FLAG_KERNEL_TRUNCATED", () => C["PE_FLAG_KERNEL_TRUNCATED"] as number],
  ["FLAG_FRAMES", () => C["PE_FLAG_FRAMES"] as number],
  ["STACK_DEPTH", () => C["PROFILER_STACK_DEPTH"] as number],
  ["RECORD_MAX", () => C["PROFILE_RECORD_MAX"] as number],
]);

Deno.test("layout: every WASM layout constant is checked: the wire ones against C, the module's own against lib/parser/layout.ts", () => {
  const maxCpus = (new WebAssembly.Instance(WASM_MODULE, {}).exports
    .maxCpus as () => number)();
  for (const [name, value] of W) {
    if (WIRE.has(name)) {
      assert.equal(value, WIRE.get(name)!(), `${name} (wire format)`);
    } else {
      // The module's own interface: mirrored by name in MODULE_ABI.
      assert.ok(
        Object.hasOwn(MODULE_ABI, name),
        `parser-wasm/assembly/layout.ts exports ${name}, lib/parser/layout.ts MODULE_ABI does not mirror it`,
      );
      assert.equal(
        MODULE_ABI[name as keyof typeof MODULE_ABI],
        value,
        `MODULE_ABI.${name}`,
      );
    }
  }
  // And nothing in the mirror that the module does not define.
  for (const name of Object.keys(MODULE_ABI)) {
    assert.ok(W.has(name), `MODULE_ABI.${name} is not in the WASM layout`);
  }
  for (const name of WIRE.keys()) assert.ok(W.has(name), `WASM has ${name}`);
  // MAX_CPUS is the parser's own (not in the header): the built module and
  // the source agree, and so does the reference decoder (CPU 1023 counts,
  // 1024 is a bad CPU: see wasm_parser_test.ts).
  assert.equal(W.get("MAX_CPUS"), maxCpus);
  assert.equal(maxCpus, 1024);
  // Stop reasons: the TS names are in the module's order.
  const stops = [...W].filter(([k]) => k.startsWith("STOP_"));
  assert.equal(stops.length, STOP_REASONS.length);
  for (const [k, v] of stops) {
    assert.equal(
      STOP_REASONS[v].toUpperCase().replace("-", "_"),
      k.slice("STOP_".length),
      `STOP_REASONS[${v}]`,
    );
  }
  // The sentinels, as i32.
  assert.equal(StackId.EMPTY, W.get("STACK_ID_EMPTY")! | 0);
  assert.equal(StackId.FAULT, W.get("STACK_ID_FAULT")! | 0);
  assert.equal(StackId.NOT_COLLECTED, W.get("STACK_ID_NOT_COLLECTED")! | 0);
  assert.equal(RECORD_MAX, C["PROFILE_RECORD_MAX"]);
});

Deno.test("layout: flags, counters, config, names, stack depth", () => {
  const flags: Record<string, keyof typeof EventFlags> = {
    PE_FLAG_USER_TRUNCATED: "USER_TRUNCATED",
    PE_FLAG_KERNEL_TRUNCATED: "KERNEL_TRUNCATED",
    PE_FLAG_USER_STACK_ERROR: "USER_STACK_ERROR",
    PE_FLAG_KERNEL_STACK_ERROR: "KERNEL_STACK_ERROR",
    PE_FLAG_FRAMES: "FRAMES",
  };
  assert.deepStrictEqual(
    Object.keys(EventFlags).sort(),
    Object.values(flags).sort(),
  );
  for (const [macro, name] of Object.entries(flags)) {
    assert.equal(EventFlags[name], C[macro], macro);
  }

  assert.equal(COUNTERS_SIZE, C["sizeof.profiler_counters"]);
  assert.equal(C["PROFILER_COUNTERS_SIZE"], C["sizeof.profiler_counters"]);
  const counters = Object.keys(C)
    .filter((k) => k.startsWith("profiler_counters."))
    .map((k) => k.slice("profiler_counters.".length));
  assert.deepStrictEqual([...COUNTER_FIELDS], counters.map(camel));
  COUNTER_FIELDS.forEach((_, i) => {
    const f = field(`profiler_counters.${counters[i]}`);
    assert.equal(f.offset, i * 8, counters[i]);
    assert.equal(f.size, 8);
    assert.equal(f.signed, false);
  });

  assert.equal(CONFIG_SIZE, C["sizeof.profiler_config"]);
  assert.equal(C["PROFILER_CONFIG_SIZE"], C["sizeof.profiler_config"]);
  for (const [k, off] of Object.entries(CONFIG_OFFSETS)) {
    const snake = k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    assert.equal(field(`profiler_config.${snake}`).offset, off, k);
  }

  assert.deepStrictEqual(BPF_NAMES, {
    program: C["PROFILER_PROG_NAME"],
    ringbuf: C["PROFILER_RINGBUF_MAP"],
    counters: C["PROFILER_COUNTERS_MAP"],
    rodata: C["PROFILER_RODATA_MAP"],
    stressProgram: C["STRESS_PROG_NAME"],
    stressRodata: C["STRESS_RODATA_MAP"],
  });
  assert.equal(STACK_DEPTH, C["PROFILER_STACK_DEPTH"]);
});

/**
 * The C side's mirror of the module's interface: harness-c/wasm2c/
 * parser_abi.sh makes build/parser_abi.h from parser-wasm/assembly/layout.ts
 * (`#define ST_EVENTS 0u` ...), and harness-c/wasm_parser.h lays out
 * `struct wasm_walk_stats` by those names (WASM_WALK_STATS_WORDS, checked
 * with static assertions, as native_walker.h checks its per-CPU slot against
 * CPU_STATE_SIZE and CS_*). Here the script is run as the build runs it, and
 * a program compiled against wasm_parser.h and native_walker.h prints what
 * gcc makes of every name: each must be a u32 equal to the value parsed
 * from layout.ts above, and every ST_* word must be a field of the struct.
 */
Deno.test("layout: the C mirror (harness-c parser_abi.h, wasm_parser.h) has every name of the WASM layout, same value", async () => {
  const dir = await Deno.makeTempDir({ prefix: "streamprof-abi-" });
  try {
    const header = `${dir}/parser_abi.h`;
    const gen = await new Deno.Command("sh", {
      args: [
        `${ROOT}harness-c/wasm2c/parser_abi.sh`,
        `${ROOT}parser-wasm/assembly/layout.ts`,
        header,
      ],
    }).output();
    assert.equal(
      gen.code,
      0,
      `parser_abi.sh failed:\n${new TextDecoder().decode(gen.stderr)}`,
    );
    const defined = [
      ...(await Deno.readTextFile(header)).matchAll(
        /^#define ([A-Z_][A-Z0-9_]*) /gm,
      ),
    ].map((m) => m[1]).filter((n) => n !== "STREAMPROF_PARSER_ABI_H");
    assert.deepStrictEqual(defined.sort(), [...W.keys()].sort());
    const names = [...W.keys()];
    const program = `#include <stdio.h>
#include "wasm_parser.h"
#include "native_walker.h"
#define U32(x) _Generic((x), unsigned int: 1, default: 0)
#define WORD(field, index) \\
  printf(",\\"word:%s\\":%zu", #index, \\
         offsetof(struct wasm_walk_stats, field) / 4);
int main(void) {
  printf("{\\"sizeof.wasm_walk_stats\\":%zu", sizeof(struct wasm_walk_stats));
${
      names.map((n) =>
        `  printf(",\\"${n}\\":[%llu,%d]", (unsigned long long)(${n}), U32(${n}));`
      ).join("\n")
    }
  WASM_WALK_STATS_WORDS(WORD)
  printf("}\\n");
  return 0;
}
`;
    await Deno.writeTextFile(`${dir}/mirror.c`, program);
    const cc = await new Deno.Command("gcc", {
      args: [
        "-std=gnu11",
        "-Wall",
        "-Werror",
        `-I${dir}`,
        `-I${ROOT}harness-c`,
        `-I${ROOT}ebpf`,
        `${dir}/mirror.c`,
        "-o",
        `${dir}/mirror`,
      ],
    }).output();
    assert.equal(
      cc.code,
      0,
      `the C mirror does not compile:\n${new TextDecoder().decode(cc.stderr)}`,
    );
    const run = await new Deno.Command(`${dir}/mirror`).output();
    assert.equal(run.code, 0);
    const got = JSON.parse(new TextDecoder().decode(run.stdout));
    for (const [name, value] of W) {
      assert.deepStrictEqual(
        got[name],
        [value, 1],
        `${name}: C sees ${
          JSON.stringify(got[name])
        } ([value, is u32]), layout.ts says ${value}`,
      );
    }
    // struct wasm_walk_stats: one field per ST_* word, at that word.
    const words = Object.keys(got).filter((k) => k.startsWith("word:"));
    const stWords = names.filter((n) => n.startsWith("ST_"));
    assert.deepStrictEqual(
      words.map((k) => k.slice("word:".length)).sort(),
      stWords.sort(),
      "WASM_WALK_STATS_WORDS names every ST_* word of the module",
    );
    for (const n of stWords) {
      assert.equal(got[`word:${n}`], W.get(n), `wasm_walk_stats field of ${n}`);
    }
    assert.equal(got["sizeof.wasm_walk_stats"], W.get("STATS_WORDS")! * 4);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
