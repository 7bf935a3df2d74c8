import assert from "node:assert/strict";
import {
  checkRelease,
  download,
  loadSuiteIndex,
  parseRelease,
  verifyInRelease,
} from "./debian_archive.ts";
import { FetchError } from "./errors.ts";
import { resolveKernel } from "./kernel_resolve.ts";
import { sha256Hex } from "./sha256.ts";

const FIXTURES = new URL("../../tests/vm/fixtures/", import.meta.url).pathname;

Deno.test("Debian's own InRelease (bookworm-security, recorded) verifies with the archive keyring; one changed byte does not", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const text = await verifyInRelease(
      `${FIXTURES}bookworm-security-InRelease`,
    );
    assert.ok(!text.includes("BEGIN PGP"), "only the signed text is returned");
    const release = parseRelease(text);
    assert.equal(release.codename, "bookworm-security");
    const xz = release.sha256.get("main/binary-amd64/Packages.xz")!;
    assert.match(xz.sha256, /^[0-9a-f]{64}$/);
    // Its Valid-Until is a week after its Date.
    const day = 24 * 3600 * 1000;
    checkRelease(
      release,
      "bookworm-security",
      new Date(release.date.getTime() + day),
    );
    assert.throws(
      () =>
        checkRelease(
          release,
          "bookworm-security",
          new Date(release.date.getTime() + 8 * day),
        ),
      /expired/,
    );
    assert.throws(
      () => checkRelease(release, "trixie-security", release.date),
      /is for bookworm-security/,
    );
    const raw = await Deno.readTextFile(
      `${FIXTURES}bookworm-security-InRelease`,
    );
    await Deno.writeTextFile(
      `${dir}/InRelease`,
      raw.replace(
        xz.sha256,
        xz.sha256.replace(/^./, (c) => c === "0" ? "1" : "0"),
      ),
    );
    await assert.rejects(verifyInRelease(`${dir}/InRelease`), FetchError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A throwaway signing key and a local mirror serving one suite. */
async function testMirror(dir: string) {
  const gnupg = `${dir}/gnupg`;
  await Deno.mkdir(gnupg, { mode: 0o700 });
  const gpg = async (...args: string[]) => {
    const out = await new Deno.Command("gpg", {
      args: ["--homedir", gnupg, "--batch", "--yes", ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    return out.stdout;
  };
  await gpg(
    "--passphrase",
    "",
    "--quick-gen-key",
    "streamprof test <test@example.invalid>",
    "ed25519",
    "sign",
    "never",
  );
  await Deno.writeFile(`${dir}/keyring.gpg`, await gpg("--export"));
  const files = new Map<string, Uint8Array>();
  // xz reads the file itself and writes the compressed bytes to stdout.
  const packagesXz = (await new Deno.Command("xz", {
    args: ["-c", `${FIXTURES}Packages-bookworm-security-amd64`],
    stdout: "piped",
  }).output()).stdout;
  const base = "/debian-security/dists/bookworm-security";
  files.set(`${base}/main/binary-amd64/Packages.xz`, packagesXz);
  const sign = async (release: string) => {
    await Deno.writeTextFile(`${dir}/Release`, release);
    await gpg("--clearsign", "-o", `${dir}/InRelease`, `${dir}/Release`);
    files.set(`${base}/InRelease`, await Deno.readFile(`${dir}/InRelease`));
  };
  const release = (date: Date, xzBytes: Uint8Array) =>
    [
      "Origin: Debian",
      "Suite: oldstable-security",
      "Codename: bookworm-security",
      `Date: ${date.toUTCString()}`,
      `Valid-Until: ${new Date(date.getTime() + 7 * 86400e3).toUTCString()}`,
      "SHA256:",
      ` ${sha256Hex(xzBytes)} ${xzBytes.length} main/binary-amd64/Packages.xz`,
      "",
    ].join("\n");
  const requests: string[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (req) => {
      const path = new URL(req.url).pathname;
      requests.push(path);
      const body = files.get(path);
      return body
        ? new Response(body as BodyInit)
        : new Response("not found", { status: 404 });
    },
  );
  const port = server.addr.port;
  return {
    mirror: {
      debian: `http://127.0.0.1:${port}/debian`,
      security: `http://127.0.0.1:${port}/debian-security`,
    },
    keyring: `${dir}/keyring.gpg`,
    files,
    base,
    packagesXz,
    requests,
    sign,
    release,
    close: () => server.shutdown(),
  };
}

Deno.test("loadSuiteIndex: signed InRelease, then Packages by its checksum, cached; tampering is refused and the verified copy kept", async () => {
  const dir = await Deno.makeTempDir();
  const m = await testMirror(dir);
  try {
    const now = new Date();
    await m.sign(m.release(now, m.packagesXz));
    const lines: string[] = [];
    const o = {
      root: `${dir}/cache`,
      mirror: m.mirror,
      wanted: ["linux-image-*", "libc6", "zlib1g"],
      log: (l: string) => lines.push(l),
      keyring: m.keyring,
    };
    const ix = await loadSuiteIndex("bookworm-security", "amd64", o);
    assert.equal(ix?.packages.length, 11);
    assert.equal(
      resolveKernel(
        { line: "6.1", suites: ["bookworm-security"], flavour: "amd64" },
        ix!.packages,
      ).version,
      "6.1.192-3",
    );
    assert.deepEqual(m.requests, [
      `${m.base}/InRelease`,
      `${m.base}/main/binary-amd64/Packages.xz`,
    ]);
    // A second run within a day downloads nothing.
    await loadSuiteIndex("bookworm-security", "amd64", o);
    assert.equal(m.requests.length, 2);
    // A newer signed Release lists another Packages file, but the mirror
    // serves bytes that are not it.
    const evil = new TextEncoder().encode("Package: evilness\n");
    m.files.set(`${m.base}/main/binary-amd64/Packages.xz`, evil);
    const listed = new TextEncoder().encode("the real new index");
    await m.sign(m.release(new Date(now.getTime() + 1000), listed));
    const tampered = await loadSuiteIndex("bookworm-security", "amd64", {
      ...o,
      refresh: true,
    });
    assert.match(lines.join("\n"), /sha256 [0-9a-f]+, the signed index says/);
    assert.match(lines.join("\n"), /using the copy verified on/);
    assert.equal(tampered?.packages.length, 11);
    // An InRelease signed by a key outside the keyring.
    const other = await Deno.makeTempDir();
    try {
      const m2 = await testMirror(other);
      await m2.sign(m2.release(now, m2.packagesXz));
      await assert.rejects(
        loadSuiteIndex("bookworm-security", "amd64", {
          ...o,
          root: `${dir}/cache2`,
          mirror: m2.mirror,
        }),
        /no good signature/,
      );
      await m2.close();
    } finally {
      await Deno.remove(other, { recursive: true });
    }
  } finally {
    await m.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("download keeps a file only with the size and SHA-256 asked for", async () => {
  const dir = await Deno.makeTempDir();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (req) =>
      new URL(req.url).pathname === "/a.deb"
        ? new Response("deb bytes")
        : new Response("no", { status: 404 }),
  );
  const url = `http://127.0.0.1:${server.addr.port}`;
  try {
    const sha = sha256Hex("deb bytes");
    assert.equal(
      await download(`${url}/a.deb`, `${dir}/a.deb`, { size: 9, sha256: sha }),
      sha,
    );
    await assert.rejects(
      download(`${url}/a.deb`, `${dir}/b.deb`, {
        sha256: "0".repeat(64),
      }),
      /the signed index says/,
    );
    await assert.rejects(
      download(`${url}/gone.deb`, `${dir}/c.deb`),
      (e) => e instanceof FetchError && e.status === 404,
    );
    assert.deepEqual(
      [...Deno.readDirSync(dir)].map((e) => e.name),
      ["a.deb"],
    );
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});
