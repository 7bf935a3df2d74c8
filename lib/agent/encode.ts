/**
 * What the agent pushes: each interval's profile, split by service, as a
 * gzipped pprof whose sample labels suit a profile store.
 *
 * Pyroscope turns every string sample label into a series label (numbers
 * are dropped), so a label per CPU or per thread would make a series per
 * CPU and thread: for the push the agent keeps `comm` (the process name, a
 * handy filter) and the numeric pid and tid (kept in the file, ignored by
 * Pyroscope), and drops `cpu` and `thread`. Pyroscope also takes the
 * service from the push, not from a sample label, so without `--service`
 * the agent pushes one profile per process name, each with service_name
 * set to it.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { splitByService } from "./encode.ts";
 * import { exampleProfile } from "../export/test_profile.ts";
 * const p = exampleProfile();
 * const parts = splitByService(p);
 * assert.equal(parts.reduce((n, x) => n + x.profile.totalSamples, 0), p.totalSamples);
 * assert.equal(splitByService(p, "web")[0].service, "web");
 * ```
 * @module
 */
import { Label } from "pprof-format";
import { toPprof } from "../export/pprof.ts";
import type { ResolvedProfile } from "../profile/model.ts";

/**
 * A name Pyroscope accepts as a service (`[A-Za-z0-9_.-/]`): anything else
 * becomes `_` ("V8 DefaultWorke" -> "V8_DefaultWorke", "[pid 7]" ->
 * "_pid_7_").
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { serviceName } from "./encode.ts";
 * assert.equal(serviceName("kworker/0:1"), "kworker/0_1");
 * assert.equal(serviceName(""), "_");
 * ```
 */
export function serviceName(s: string): string {
  return s.replace(/[^A-Za-z0-9_.\-/]/g, "_") || "_";
}

/** A service's part of an interval. */
export interface ServiceProfile {
  service: string;
  profile: ResolvedProfile;
}

/**
 * The profile as one part (`service` given) or one part per process name,
 * each with only the frames and mappings its samples use. Sample counts add
 * up to the whole profile's, exactly.
 */
export function splitByService(
  p: ResolvedProfile,
  service?: string,
): ServiceProfile[] {
  if (service !== undefined) return [{ service, profile: p }];
  const groups = new Map<string, ResolvedProfile["samples"]>();
  for (const s of p.samples) {
    const name = serviceName(s.comm);
    const g = groups.get(name);
    if (g) g.push(s);
    else groups.set(name, [s]);
  }
  const out: ServiceProfile[] = [];
  for (const [comm, samples] of groups) {
    // Renumber the frames (and their mappings) this group uses.
    const frameMap = new Map<number, number>();
    const mappingMap = new Map<number, number>();
    const frames: ResolvedProfile["frames"] = [];
    const mappings: ResolvedProfile["mappings"] = [];
    const remap = (i: number) => {
      let j = frameMap.get(i);
      if (j === undefined) {
        const f = { ...p.frames[i] };
        if (f.mapping !== undefined) {
          let m = mappingMap.get(f.mapping);
          if (m === undefined) {
            m = mappings.length;
            mappings.push(p.mappings[f.mapping]);
            mappingMap.set(f.mapping, m);
          }
          f.mapping = m;
        }
        j = frames.length;
        frames.push(f);
        frameMap.set(i, j);
      }
      return j;
    };
    const own = samples.map((s) => ({ ...s, stack: s.stack.map(remap) }));
    out.push({
      service: comm,
      profile: {
        ...p,
        frames,
        mappings,
        samples: own,
        totalSamples: own.reduce((n, s) => n + s.count, 0),
        timeline: undefined,
      },
    });
  }
  return out;
}

/**
 * The gzipped pprof to push: the profile's pprof with only the labels a
 * store should index, and the interval's accounting as comments.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { encodeForPush } from "./encode.ts";
 * import { decodePprof } from "../export/pprof.ts";
 * import { exampleProfile } from "../export/test_profile.ts";
 * const bytes = await encodeForPush(exampleProfile(), ["interval: 4 samples"]);
 * const p = await decodePprof(bytes);
 * const s = (i: number | bigint) => p.stringTable.strings[Number(i)];
 * assert.ok(p.comment.map(s).includes("interval: 4 samples"));
 * assert.deepEqual([...new Set(p.sample.flatMap((x) => x.label.map((l) => s(l.key))))].sort(), ["comm", "pid", "tid"]);
 * ```
 */
export async function encodeForPush(
  p: ResolvedProfile,
  comments: string[],
): Promise<Uint8Array> {
  const prof = toPprof(p);
  const strings = prof.stringTable;
  const drop = new Set(["cpu", "thread"].map((k) => strings.dedup(k)));
  for (const s of prof.sample) {
    s.label = s.label.filter((l: Label) => !drop.has(Number(l.key)));
  }
  prof.comment = [...prof.comment, ...comments.map((c) => strings.dedup(c))];
  const raw = prof.encode();
  const gz = new Blob([raw as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new CompressionStream("gzip"),
  );
  return new Uint8Array(await new Response(gz).arrayBuffer());
}
