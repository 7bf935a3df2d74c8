/**
 * Whether this process may load BPF programs and open perf events.
 *
 * Capabilities decide, not the uid: root with a reduced bounding set (a
 * container, setpriv) cannot use bpf() either. This must be checked before
 * probing kernel features, because libbpf's feature probes report "not
 * supported" (0), not EPERM, when they are merely not allowed to try.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { bpfPrivileges } from "./privileges.ts";
 * const p = bpfPrivileges();
 * assert.match(p.detail, /^CAP_BPF (yes|no), CAP_PERFMON (yes|no), CAP_SYS_ADMIN (yes|no)$/);
 * ```
 * @module
 */

const CAP_SYS_ADMIN = 21n;
const CAP_PERFMON = 38n;
const CAP_BPF = 39n;

/** What the process may do. */
export interface BpfPrivileges {
  /** CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN. */
  ok: boolean;
  /** e.g. "CAP_BPF yes, CAP_PERFMON yes, CAP_SYS_ADMIN yes". */
  detail: string;
}

/** Reads the effective capabilities from /proc/self/status. */
export function bpfPrivileges(): BpfPrivileges {
  const m = /CapEff:\s*([0-9a-f]+)/.exec(
    Deno.readTextFileSync("/proc/self/status"),
  );
  const caps = m ? BigInt("0x" + m[1]) : 0n;
  const has = (bit: bigint) => ((caps >> bit) & 1n) === 1n;
  const yn = (b: boolean) => (b ? "yes" : "no");
  return {
    ok: (has(CAP_BPF) && has(CAP_PERFMON)) || has(CAP_SYS_ADMIN),
    detail: `CAP_BPF ${yn(has(CAP_BPF))}, CAP_PERFMON ${
      yn(has(CAP_PERFMON))
    }, CAP_SYS_ADMIN ${yn(has(CAP_SYS_ADMIN))}`,
  };
}

/** The message users see when privileges are missing. */
export const PRIVILEGE_HINT =
  "streamprof needs root with CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN): run it as root (sudo)";
