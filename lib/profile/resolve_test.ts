import assert from "node:assert";
import { referenceEncodeSamples } from "../parser/reference_decoder.ts";
import { ProfileParser } from "../parser/wasm_parser.ts";
import { StackProfile } from "../profiler/stack_profile.ts";
import { Symbolizer } from "../symbols/symbolizer.ts";
import { ProcessNames } from "./process_names.ts";
import { resolveProfile } from "./resolve.ts";

/** Start of this process's executable mapping of libc. */
function libcText(): bigint {
  for (const line of Deno.readTextFileSync("/proc/self/maps").split("\n")) {
    const f = line.split(/\s+/);
    if (f[1]?.includes("x") && f[5]?.includes("libc.so")) {
      return BigInt("0x" + f[0].split("-")[0]);
    }
  }
  throw new Error("no libc text mapping in /proc/self/maps");
}

Deno.test("resolveProfile: one mapping per mapped file of a process, also after its maps are read again", async () => {
  const libc = libcText();
  const stacks: bigint[][] = [
    [libc + 0x100n, libc + 0x200n],
    // Outside every mapping: the symbolizer reads the maps again (a new
    // MappingInfo for libc from then on).
    [0x10n],
    [libc + 0x300n],
    [libc + 0x400n, libc + 0x500n],
  ];
  const parser = await ProfileParser.create();
  parser.walk(
    referenceEncodeSamples(stacks.map((user, i) => ({
      event: {
        timestampNs: BigInt(1000 + i),
        pid: Deno.pid,
        tid: Deno.pid,
        userStackId: 0,
        kernelStackId: 0,
        cpu: 0,
        flags: 0,
      },
      user,
      kernel: [],
    }))),
    { toAggregate: true },
  );
  const profile = new StackProfile();
  profile.absorb(parser);
  const sym = new Symbolizer({ mapsReloadMs: 0 });
  try {
    const r = resolveProfile(profile, sym, new ProcessNames());
    assert.strictEqual(sym.stats().mapsReloads >= 1, true);
    const libcMappings = r.mappings.flatMap((m, i) =>
      m.file.includes("libc.so") ? [i] : []
    );
    assert.strictEqual(libcMappings.length, 1);
    const libcFrames = r.frames.filter((f) => f.module.includes("libc.so"));
    assert.strictEqual(libcFrames.length, 5);
    for (const f of libcFrames) assert.strictEqual(f.mapping, libcMappings[0]);
    assert.strictEqual(r.mappings[libcMappings[0]].start, libc);
  } finally {
    sym.close();
  }
});
