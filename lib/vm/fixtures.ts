/**
 * Test programs built on the host for a guest's arch, shared read-only
 * into the guest as `/fixtures`:
 *
 * - `hotspots` and `libhotlib.so` from tests/fixtures (its own Makefile,
 *   frame pointers on; the symbolized-profile check runs it), and
 * - `c/<name>` for each tests/kernel/fixtures/`<name>`.c, with its source
 *   beside it as `c/<name>.c` (the guest's gcc stand-in, initramfs.ts,
 *   hands these out to tests that compile them at run time).
 *
 * x86_64 uses the host's `gcc`; arm64 Debian's cross compiler
 * `aarch64-linux-gnu-gcc` (package `gcc-aarch64-linux-gnu`, a normal
 * bookworm package from the machine's own apt sources). A program that
 * cannot be built is recorded in `fixtures.json` as a problem, and the
 * checks that need it report it; the VM still boots.
 *
 * Cached under `<cache>/fixtures/<arch>/`, keyed by the SHA-256 of every
 * source and the compiler's version.
 *
 * @module
 */
import type { Log } from "./artifacts.ts";
import { exec, haveCommand } from "./exec.ts";
import { sha256File, sha256Hex } from "./sha256.ts";
import type { Arch } from "./vms.ts";

/** The C compiler that builds for `arch` on this host. */
export function compilerFor(arch: Arch): { cc: string; debianPackage: string } {
  const host: Arch = Deno.build.arch === "aarch64" ? "arm64" : "x86_64";
  if (arch === host) return { cc: "gcc", debianPackage: "gcc" };
  return arch === "arm64"
    ? { cc: "aarch64-linux-gnu-gcc", debianPackage: "gcc-aarch64-linux-gnu" }
    : { cc: "x86_64-linux-gnu-gcc", debianPackage: "gcc-x86-64-linux-gnu" };
}

/** What `fixtures.json` records. */
export interface FixturesRecord {
  key: string;
  arch: Arch;
  compiler: string;
  built: string[];
  problems: string[];
}

/** The sources a build depends on, relative to the project root. */
async function fixtureSources(projectRoot: string): Promise<string[]> {
  const out: string[] = [];
  for (const dir of ["tests/fixtures", "tests/kernel/fixtures"]) {
    try {
      for await (const e of Deno.readDir(`${projectRoot}/${dir}`)) {
        if (e.isFile && /\.(c|h)$|^Makefile$/.test(e.name)) {
          out.push(`${dir}/${e.name}`);
        }
      }
    } catch { /* no such folder: nothing to build from it */ }
  }
  return out.sort();
}

/**
 * Builds (or reuses) the fixtures for `arch`; returns their folder and the
 * record. Never throws for a program that does not build: that is a
 * problem in the record.
 */
export async function ensureFixtures(
  arch: Arch,
  o: { root: string; projectRoot: string; log: Log },
): Promise<{ dir: string; record: FixturesRecord }> {
  const dir = `${o.root}/fixtures/${arch}`;
  const { cc, debianPackage } = compilerFor(arch);
  const sources = await fixtureSources(o.projectRoot);
  let compiler = "";
  if (await haveCommand(cc)) {
    compiler = (await exec(cc, ["--version"])).stdout.split("\n")[0];
  }
  const parts = [compiler];
  for (const s of sources) {
    parts.push(`${s} ${await sha256File(`${o.projectRoot}/${s}`)}`);
  }
  const key = sha256Hex(parts.join("\n"));
  try {
    const old = JSON.parse(
      await Deno.readTextFile(`${dir}/fixtures.json`),
    ) as FixturesRecord;
    if (old.key === key) return { dir, record: old };
  } catch { /* not built yet */ }

  const t0 = performance.now();
  const work = `${dir}.work-${Deno.pid}`;
  await Deno.remove(work, { recursive: true }).catch(() => {});
  await Deno.mkdir(`${work}/c`, { recursive: true });
  const built: string[] = [];
  const problems: string[] = [];
  if (!compiler) {
    problems.push(`${cc} not found: apt-get install ${debianPackage}`);
  } else {
    if (sources.includes("tests/fixtures/Makefile")) {
      const r = await exec("make", [
        "-s",
        "-C",
        `${o.projectRoot}/tests/fixtures`,
        `CC=${cc}`,
        `B=${work}`,
        `${work}/hotspots`,
      ], { allowFail: true });
      if (r.code === 0) built.push("hotspots", "libhotlib.so");
      else {
        problems.push(
          `tests/fixtures hotspots did not build with ${cc}: ${
            (r.stderr || r.stdout).trim().split("\n").slice(-3).join(" / ")
          }`,
        );
      }
    } else problems.push("tests/fixtures/Makefile is missing");
    for (
      const s of sources.filter((s) =>
        /^tests\/kernel\/fixtures\/.*\.c$/.test(s)
      )
    ) {
      const name = s.split("/").pop()!.replace(/\.c$/, "");
      const r = await exec(cc, [
        "-O2",
        "-Wall",
        "-Wextra",
        "-Werror",
        `${o.projectRoot}/${s}`,
        "-o",
        `${work}/c/${name}`,
      ], { allowFail: true });
      if (r.code === 0) {
        await Deno.copyFile(`${o.projectRoot}/${s}`, `${work}/c/${name}.c`);
        built.push(`c/${name}`);
      } else {
        problems.push(`${s} did not build with ${cc}: ${r.stderr.trim()}`);
      }
    }
  }
  const record: FixturesRecord = { key, arch, compiler, built, problems };
  await Deno.writeTextFile(
    `${work}/fixtures.json`,
    JSON.stringify(record, null, 2) + "\n",
  );
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.rename(work, dir);
  o.log(
    `  fixtures ${arch}: ${built.join(", ") || "nothing"} built with ${
      compiler || cc
    }${problems.length ? `; problems: ${problems.join("; ")}` : ""} in ${
      ((performance.now() - t0) / 1000).toFixed(1)
    } s`,
  );
  return { dir, record };
}
