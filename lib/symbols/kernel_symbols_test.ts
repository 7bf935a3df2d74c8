// The indexed form of KernelSymbols (the core section binary-searched in
// place) must answer every lookup exactly as the full parse does: on this
// machine's /proc/kallsyms, and on generated texts with the shapes other
// kernels print (per-CPU data first, data lines among the functions,
// aliases, modules below and above the core, BPF symbols on both sides,
// module symbols inside the core's range, malformed lines). A core section
// out of address order is outside the index's contract (the kernel sorts
// it when it is built); one that is disordered at large must be refused.
import assert from "node:assert/strict";
import { INDEX_LOOKUPS, KernelSymbols } from "./kernel_symbols.ts";
import { seededRandom } from "../common/seeded_random.ts";

const TWO32 = 4294967296;

/**
 * Lookups of both forms at each address agree. The indexed form is made
 * afresh every INDEX_LOOKUPS / 2 lookups, so that the index, not the full
 * parse it hands over to past INDEX_LOOKUPS, answers every one.
 */
function assertSameAnswers(
  text: Uint8Array,
  addrs: Iterable<bigint>,
  label: string,
): { indexed: KernelSymbols; full: KernelSymbols } {
  let indexed = KernelSymbols.parse(text);
  const full = KernelSymbols.parse(text, { full: true });
  assert.equal(indexed.state, full.state, `${label}: state`);
  let n = 0;
  for (const a of addrs) {
    if (++n % (INDEX_LOOKUPS / 2) === 0) indexed = KernelSymbols.parse(text);
    assert.deepEqual(
      indexed.lookup(a),
      full.lookup(a),
      `${label}: 0x${a.toString(16)}`,
    );
  }
  return { indexed, full };
}

/** Addresses at and around every line's address, and between them. */
function probesOf(text: string, rnd: () => number, per = 1): bigint[] {
  const out: bigint[] = [];
  for (const line of text.split("\n")) {
    const m = /^([0-9a-f]+) /.exec(line);
    if (!m) continue;
    const a = BigInt("0x" + m[1]);
    if (rnd() >= per) continue;
    for (const d of [-1n, 0n, 1n, 7n, 4095n, 4096n]) {
      if (a + d >= 0n) out.push(a + d);
    }
  }
  return out;
}

Deno.test("kallsyms: the indexed form answers as the full parse does, on /proc/kallsyms", () => {
  const text = Deno.readFileSync("/proc/kallsyms");
  const s = new TextDecoder().decode(text);
  const rnd = seededRandom(11);
  // A fifth of the lines, each with addresses around it: ~150k lookups.
  const addrs = probesOf(s, rnd, 0.2);
  const before = KernelSymbols.parse(text).form;
  const { indexed, full } = assertSameAnswers(text, addrs, "/proc/kallsyms");
  assert.equal(full.form, "full");
  if (indexed.state === "ok") {
    // The real text is the case the index is for.
    assert.equal(before, "indexed");
    assert.ok(
      addrs.filter((a) => full.lookup(a) !== undefined).length >
        addrs.length / 2,
      "most probes are named",
    );
    assert.equal(indexed.count, full.count);
    assert.equal(indexed.malformed, full.malformed);
  }
});

function hex(n: bigint): string {
  return n.toString(16).padStart(16, "0");
}

/** A generated kallsyms text of the given shape, and probe addresses. */
function generated(seed: number): { text: string; shape: string } {
  const r = seededRandom(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)];
  const lines: string[] = [];
  const shape: string[] = [];
  const core = 0xffffffff81000000n;
  if (r() < 0.5) {
    // CONFIG_KALLSYMS_ALL: per-CPU data at small addresses comes first.
    shape.push("percpu");
    for (let a = 0n, i = 0; i < 20; i++, a += BigInt(Math.floor(r() * 64))) {
      lines.push(`${hex(a)} ${pick(["A", "D", "d"])} percpu_${i}`);
    }
  }
  if (r() < 0.3) {
    shape.push("weak-zero");
    lines.push(`${hex(0n)} w undefined_weak`);
  }
  let a = core;
  const n = 50 + Math.floor(r() * 3000);
  // A long run of data lines among the functions: a lookup in it walks
  // back further than the index will, so the full parse must answer.
  const dataRun = r() < 0.15 ? Math.floor(r() * n) : -1;
  if (dataRun >= 0) shape.push("data-run");
  for (let i = 0; i < n; i++) {
    const gap = r() < 0.1 ? 0 : Math.floor(r() * (r() < 0.05 ? 300000 : 400));
    a += BigInt(gap);
    const type = r() < 0.8 ? pick(["t", "T", "W", "w"]) : pick(["d", "r", "b"]);
    lines.push(`${hex(a)} ${type} fn_${i}`);
    for (let j = 0; i === dataRun && j < 400; j++) {
      a += 8n;
      lines.push(`${hex(a)} d data_${j}`);
    }
  }
  const coreEnd = a;
  if (r() < 0.15) {
    // CONFIG_KALLSYMS_ALL: .data and .bss after the last functions.
    shape.push("data-tail");
    for (let i = 0; i < 1500; i++) {
      a += BigInt(1 + Math.floor(r() * 64));
      lines.push(`${hex(a)} ${pick(["d", "D", "b", "B"])} data_${i}`);
    }
  }
  if (r() < 0.1) {
    // Not in address order at large (not what a kernel prints): the
    // index's sampled check must refuse it.
    shape.push("unsorted");
    lines.sort(() => r() - 0.5);
  }
  if (r() < 0.1) {
    shape.push("malformed");
    lines.splice(
      Math.floor(r() * lines.length),
      0,
      pick(["zz t bad", "ffff", ""]),
    );
  }
  const mods = Math.floor(r() * 4);
  for (let m = 0; m < mods; m++) {
    const below = r() < 0.4; // arm64: modules below the image
    let base = below
      ? core - BigInt(0x1000000 * (m + 1))
      : 0xffffffffc0000000n + BigInt(0x100000 * m);
    if (r() < 0.1) {
      shape.push("inside");
      base = core + BigInt(Math.floor(r() * Number(coreEnd - core + 1n)));
    }
    const name = r() < 0.2 ? "bpf" : `mod${m}`;
    const syms: string[] = [];
    for (let i = 0, b = base; i < 1 + r() * 40; i++) {
      syms.push(
        `${hex(b)} ${
          i === 0 ? "t" : pick(["t", "T", "d"])
        } ${name}_${i}\t[${name}]`,
      );
      b += BigInt(Math.floor(r() * 500));
    }
    // Within a module, symbol order is the module's symtab order.
    syms.sort(() => r() - 0.5);
    lines.push(...syms);
  }
  shape.push(`${mods} modules`);
  return { text: lines.join("\n") + "\n", shape: shape.join(", ") };
}

Deno.test("kallsyms: the indexed form answers as the full parse does, on 300 generated texts", () => {
  const enc = new TextEncoder();
  const forms = { indexed: 0, full: 0, none: 0 };
  const gaveUp = { after: 0 };
  let insideRefused = 0;
  let dataTailIndexed = 0;
  for (let seed = 1; seed <= 300; seed++) {
    const { text, shape } = generated(seed);
    const r = seededRandom(seed + 1000);
    const probes = probesOf(text, r, 1);
    // And random addresses anywhere in the kernel's range.
    for (let i = 0; i < 200; i++) {
      probes.push(
        0xffffffff00000000n + BigInt(Math.floor(r() * TWO32)),
      );
    }
    const bytes = enc.encode(text);
    const before = KernelSymbols.parse(bytes).form;
    forms[before]++;
    const { indexed } = assertSameAnswers(
      bytes,
      probes,
      `seed ${seed} (${shape})`,
    );
    if (before === "indexed" && indexed.form === "full") gaveUp.after++;
    if (before === "full" && shape.includes("inside")) insideRefused++;
    if (shape.includes("data-tail") && shape.split(", ").length === 2) {
      dataTailIndexed += before === "indexed" ? 1 : 0;
    }
    if (shape.includes("unsorted")) {
      assert.equal(before, "full", `seed ${seed}: an unsorted text indexed`);
    }
  }
  // Every path ran: the index answered, it was refused, and it handed a
  // lookup over to the full parse.
  assert.ok(forms.indexed > 100, `indexed ${forms.indexed}`);
  assert.ok(forms.full > 10, `full ${forms.full}`);
  assert.ok(gaveUp.after > 0, "some lookup was handed to the full parse");
  assert.ok(insideRefused > 0, "module symbols inside the core: full parse");
  // Kernels built with CONFIG_KALLSYMS_ALL are indexed too.
  assert.ok(dataTailIndexed > 0, "a core ending in data lines is indexed");
});

Deno.test("kallsyms: kptr_restrict (all zero) is reported by either form", () => {
  const text = new TextEncoder().encode(
    "0000000000000000 T _text\n0000000000000000 t do_thing\n" +
      "0000000000000000 t nft_do_chain\t[nf_tables]\n",
  );
  for (
    const ks of [
      KernelSymbols.parse(text),
      KernelSymbols.parse(text, { full: true }),
    ]
  ) {
    assert.equal(ks.state, "restricted");
    assert.equal(ks.form, "none");
    assert.equal(ks.lookup(0xffffffff81000000n), undefined);
  }
});

Deno.test("kallsyms: the core section saved per boot answers as the live file does", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const cache = { dir: `${dir}/cache` };
    const live = Deno.readFileSync("/proc/kallsyms");
    const full = KernelSymbols.parse(live, { full: true });
    if (full.state !== "ok") {
      assert.fail(`/proc/kallsyms is ${full.state}: run as root`);
    }
    const first = KernelSymbols.load("/proc/kallsyms", { cache });
    assert.equal(first.fromCache, false);
    const files = [...Deno.readDirSync(cache.dir)].map((e) => e.name);
    const bootId = Deno.readTextFileSync("/proc/sys/kernel/random/boot_id")
      .trim();
    assert.deepEqual(files, [bootId]);
    assert.equal(Deno.statSync(`${cache.dir}/${bootId}`).mode! & 0o777, 0o600);
    const saved = Deno.readFileSync(`${cache.dir}/${bootId}`);
    assert.ok(saved.length > 0 && saved.length <= live.length);
    assert.ok(
      !new TextDecoder().decode(saved).includes("\t"),
      "no module line",
    );

    const again = KernelSymbols.load("/proc/kallsyms", { cache });
    assert.equal(again.fromCache, true);
    assert.equal(again.form, "indexed");
    const s = new TextDecoder().decode(live);
    const core = s.slice(
      0,
      s.indexOf("\t") < 0 ? s.length : s.lastIndexOf("\n", s.indexOf("\t")) + 1,
    );
    const addrs = probesOf(core, seededRandom(5), 0.05);
    // Addresses the full parse names in the core kernel lie inside the saved
    // section; the others (below its first function, past its last) do not.
    const inCore = addrs.filter((a) =>
      full.lookup(a)?.module === "[kernel.kallsyms]"
    );
    assert.ok(inCore.length > addrs.length / 2);
    // (Fewer than INDEX_LOOKUPS, past which the full parse, and so the live
    // file, would answer.)
    inCore.length = Math.min(inCore.length, INDEX_LOOKUPS / 2);
    for (const a of inCore) {
      assert.deepEqual(again.lookup(a), full.lookup(a), `0x${a.toString(16)}`);
    }
    assert.equal(again.fromCache, true, "core lookups stay in the saved text");
    // Below the core kernel (module space on arm64, nothing on x86_64): the
    // live file answers, modules included.
    const below = BigInt(
      "0x" +
        core.split("\n").find((l) =>
          / [tTwW] /.test(l) && !l.startsWith("0000")
        )!.slice(0, 16),
    ) - 0x1000n;
    assert.deepEqual(again.lookup(below), full.lookup(below));
    assert.equal(
      again.fromCache,
      false,
      "a lookup outside the core read the live file",
    );
    for (
      const a of [...addrs, ...probesOf(s.slice(core.length), seededRandom(6))]
    ) {
      assert.deepEqual(
        again.lookup(a),
        full.lookup(a),
        `module 0x${a.toString(16)}`,
      );
    }

    // A saved text cut short (at a line) still never misnames: lookups past
    // its end go to the live file.
    const cut = saved.subarray(0, saved.lastIndexOf(10, saved.length / 2) + 1);
    // (Replaced by rename, as the cache itself does: the saved file is
    // mapped, and cutting a mapped file in place would make touching the
    // old mapping past the new end fatal.)
    Deno.writeFileSync(`${cache.dir}/cut`, cut);
    Deno.renameSync(`${cache.dir}/cut`, `${cache.dir}/${bootId}`);
    const short = KernelSymbols.load("/proc/kallsyms", { cache });
    assert.equal(short.fromCache, true);
    for (const a of addrs) {
      assert.deepEqual(
        short.lookup(a),
        full.lookup(a),
        `cut: 0x${a.toString(16)}`,
      );
    }
    assert.equal(short.fromCache, false);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("kallsyms: a saved text is not used when the live file starts differently", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const text = "ffffffff81000000 T _text\nffffffff81000100 t do_thing\n";
    Deno.writeTextFileSync(
      `${dir}/boot_id`,
      "11111111-2222-4333-8444-555555555555\n",
    );
    Deno.writeTextFileSync(`${dir}/live`, text);
    const cache = { dir: `${dir}/cache`, bootId: `${dir}/boot_id` };
    assert.equal(KernelSymbols.load(`${dir}/live`, { cache }).fromCache, false);
    assert.equal(KernelSymbols.load(`${dir}/live`, { cache }).fromCache, true);
    // kptr_restrict now hides the addresses: the live file's verdict holds.
    Deno.writeTextFileSync(
      `${dir}/live`,
      text.replace(/^[0-9a-f]{16}/gm, "0".repeat(16)),
    );
    const hidden = KernelSymbols.load(`${dir}/live`, { cache });
    assert.equal(hidden.fromCache, false);
    assert.equal(hidden.state, "restricted");
    assert.equal(hidden.lookup(0xffffffff81000108n), undefined);
    // Another boot: its own file replaces the old one.
    Deno.writeTextFileSync(`${dir}/live`, text);
    Deno.writeTextFileSync(
      `${dir}/boot_id`,
      "99999999-2222-4333-8444-555555555555\n",
    );
    assert.equal(KernelSymbols.load(`${dir}/live`, { cache }).fromCache, false);
    assert.deepEqual(
      [...Deno.readDirSync(cache.dir)].map((e) => e.name),
      ["99999999-2222-4333-8444-555555555555"],
    );
    assert.equal(
      KernelSymbols.load(`${dir}/live`, { cache }).lookup(0xffffffff81000108n)
        ?.name,
      "do_thing",
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("kallsyms: past INDEX_LOOKUPS lookups the full parse answers, the same", () => {
  const text = Deno.readFileSync("/proc/kallsyms");
  const ks = KernelSymbols.parse(text);
  const full = KernelSymbols.parse(text, { full: true });
  if (full.state !== "ok") assert.fail(`/proc/kallsyms is ${full.state}`);
  assert.equal(ks.form, "indexed");
  const r = seededRandom(9);
  const line = new TextDecoder().decode(text).split("\n").find((l) =>
    / [tT] /.test(l) && !l.startsWith("0000")
  )!;
  const first = BigInt("0x" + line.slice(0, 16));
  for (let i = 0; i <= INDEX_LOOKUPS + 10; i++) {
    const a = first + BigInt(Math.floor(r() * 0x1000000));
    assert.deepEqual(ks.lookup(a), full.lookup(a));
    if (i === INDEX_LOOKUPS - 1) assert.equal(ks.form, "indexed");
  }
  assert.equal(ks.form, "full");
});
