/**
 * Guest smoke test, run inside a VM by `main.ts test <vm> --smoke`
 * (`deno run -A lib/vm/guest_smoke.ts`): reports the kernel release and
 * machine as Deno sees them and whether libbpf (loaded with `Deno.dlopen`)
 * says the kernel supports `BPF_MAP_TYPE_RINGBUF`. Prints one
 * `@@streamprof smoke {json}` line, writes `$RESULTS/smoke.json`, and exits
 * 0 only when the ring buffer probe returns 1 (supported).
 *
 * @example
 * ```sh
 * # inside a guest, from the project root:
 * deno run -A lib/vm/guest_smoke.ts
 * # @@streamprof smoke {"osRelease":"6.12.117+deb13-arm64","arch":"aarch64","ringbuf":1,...}
 * ```
 *
 * @module
 */

/** `BPF_MAP_TYPE_RINGBUF` in `enum bpf_map_type`. */
export const BPF_MAP_TYPE_RINGBUF = 27;

/** What the smoke test reports. */
export interface SmokeResult {
  osRelease: string;
  arch: string;
  /** libbpf_probe_bpf_map_type(RINGBUF): 1 supported, 0 not, < 0 error. */
  ringbuf: number | null;
  error?: string;
  denoVersion: string;
}

/**
 * Runs the probe (needs `--allow-ffi`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { smoke } from "./guest_smoke.ts";
 * const r = smoke();
 * assert.equal(r.osRelease, Deno.osRelease());
 * // 1 on kernels >= 5.8 as root; 0, < 0 or null (no libbpf) elsewhere.
 * assert.ok(r.ringbuf === null || Number.isInteger(r.ringbuf));
 * ```
 */
export function smoke(): SmokeResult {
  const res: SmokeResult = {
    osRelease: Deno.osRelease(),
    arch: Deno.build.arch,
    ringbuf: null,
    denoVersion: Deno.version.deno,
  };
  try {
    const lib = Deno.dlopen("libbpf.so.1", {
      libbpf_probe_bpf_map_type: {
        parameters: ["i32", "pointer"],
        result: "i32",
      },
    });
    res.ringbuf = lib.symbols.libbpf_probe_bpf_map_type(
      BPF_MAP_TYPE_RINGBUF,
      null,
    );
    lib.close();
  } catch (e) {
    res.error = (e as Error).message;
  }
  return res;
}

if (import.meta.main) {
  const r = smoke();
  console.log(`@@streamprof smoke ${JSON.stringify(r)}`);
  const dir = Deno.env.get("RESULTS");
  if (dir) {
    await Deno.writeTextFile(`${dir}/smoke.json`, JSON.stringify(r) + "\n");
  }
  Deno.exit(r.ringbuf === 1 ? 0 : 1);
}
