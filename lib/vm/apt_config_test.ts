import assert from "node:assert/strict";
import {
  aptConfFile,
  aptDirs,
  aptOptions,
  aptPreferences,
  aptSourcesList,
  DEFAULT_MIRROR,
  detectMirror,
  parseStanzas,
} from "./apt_config.ts";

Deno.test("detectMirror reads one-line and deb822 sources, ignores comments", () => {
  assert.deepEqual(
    detectMirror([
      "# deb http://old.example/debian bookworm main\ndeb [arch=amd64] http://m.example/debian/ bookworm main\n",
    ]),
    {
      debian: "http://m.example/debian",
      security: "http://m.example/debian-security",
    },
  );
  assert.deepEqual(
    detectMirror([
      "Types: deb\nURIs: http://a.example/debian\nSuites: bookworm\n\nTypes: deb\nURIs: http://s.example/debian-security\nSuites: bookworm-security\n",
      "deb https://other.example/apt stable main\n",
    ]),
    {
      debian: "http://a.example/debian",
      security: "http://s.example/debian-security",
    },
  );
  assert.deepEqual(
    detectMirror(["deb https://packages.example/apt x main"]),
    DEFAULT_MIRROR,
  );
  assert.deepEqual(detectMirror([]), DEFAULT_MIRROR);
});

Deno.test("aptSourcesList puts -security suites on the security archive", () => {
  const text = aptSourcesList(DEFAULT_MIRROR, [
    "bookworm",
    "bookworm-security",
    "trixie",
    "bookworm",
  ]);
  const lines = text.trimEnd().split("\n");
  assert.deepEqual(lines.length, 3);
  assert.match(
    lines[0],
    /^deb \[signed-by=\/usr\/share\/keyrings\/debian-archive-keyring\.gpg\] http:\/\/deb\.debian\.org\/debian bookworm main$/,
  );
  assert.match(
    lines[1],
    / http:\/\/deb\.debian\.org\/debian-security bookworm-security main$/,
  );
  assert.match(lines[2], / http:\/\/deb\.debian\.org\/debian trixie main$/);
});

Deno.test("aptPreferences lowers every non-userland suite to 100", () => {
  const p = aptPreferences(["bookworm", "bookworm-updates"], [
    "bookworm",
    "bookworm-updates",
    "trixie",
    "bullseye",
  ]);
  assert.deepEqual(
    p,
    "Package: *\nPin: release n=trixie\nPin-Priority: 100\n\nPackage: *\nPin: release n=bullseye\nPin-Priority: 100\n",
  );
  assert.deepEqual(aptPreferences(["bookworm"], ["bookworm"]), "");
});

Deno.test("aptOptions point every apt directory at the private tree", () => {
  const d = aptDirs("/c/apt/arm64");
  const args = aptOptions(d, "arm64");
  const opts = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "-o") {
      const [k, ...v] = args[++i].split("=");
      opts.set(k, v.join("="));
    }
  }
  assert.deepEqual(args.slice(0, 2), ["-c", "/c/apt/arm64/etc/apt.conf"]);
  assert.deepEqual(
    opts.get("Dir::Etc::SourceList"),
    "/c/apt/arm64/etc/sources.list",
  );
  assert.deepEqual(
    opts.get("Dir::Etc::SourceParts"),
    "/c/apt/arm64/etc/sources.list.d",
  );
  assert.deepEqual(
    opts.get("Dir::Etc::Preferences"),
    "/c/apt/arm64/etc/preferences",
  );
  assert.deepEqual(
    opts.get("Dir::Etc::PreferencesParts"),
    "/c/apt/arm64/etc/preferences.d",
  );
  assert.deepEqual(opts.get("Dir::State"), "/c/apt/arm64/state");
  assert.deepEqual(opts.get("Dir::State::status"), "/c/apt/arm64/state/status");
  assert.deepEqual(opts.get("Dir::Cache"), "/c/apt/arm64/cache");
  assert.deepEqual(opts.get("APT::Architecture"), "arm64");
  assert.deepEqual(opts.get("APT::Architectures::"), "arm64");
  // Nothing may point into the machine's own apt folders.
  for (const [k, v] of opts) {
    assert.deepEqual(
      v.startsWith("/etc/apt") || v.startsWith("/var/lib/apt") ||
        v.startsWith("/var/cache/apt"),
      false,
      k,
    );
  }
});

Deno.test("aptConfFile clears the machine's update hooks", () => {
  const c = aptConfFile();
  for (
    const k of [
      "APT::Update::Post-Invoke-Success",
      "APT::Update::Post-Invoke",
      "DPkg::Post-Invoke",
    ]
  ) {
    assert.deepEqual(c.includes(`#clear ${k};`), true, k);
  }
});

Deno.test("parseStanzas reads apt-cache show output", () => {
  const s = parseStanzas(
    "Package: libc6\nVersion: 2.36-9\nDescription: GNU C Library\n multi-line\n .\n more\nSHA256: abc\n\n\nPackage: b\nSize: 12\n",
  );
  assert.deepEqual(s.length, 2);
  assert.deepEqual(s[0].Package, "libc6");
  assert.deepEqual(s[0].SHA256, "abc");
  assert.deepEqual(s[0].Description, "GNU C Library\nmulti-line\n.\nmore");
  assert.deepEqual(s[1].Size, "12");
  assert.deepEqual(parseStanzas(""), []);
});

Deno.test("the private apt config is accepted by apt-config", async () => {
  if (!(await hasApt())) return;
  const root = await Deno.makeTempDir();
  try {
    const d = aptDirs(root);
    await Deno.mkdir(`${root}/etc`, { recursive: true });
    await Deno.writeTextFile(d.conf, aptConfFile());
    const out = await new Deno.Command("apt-config", {
      args: [...aptOptions(d, "arm64"), "dump"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assert.deepEqual(out.code, 0, new TextDecoder().decode(out.stderr));
    assert.match(text, /APT::Architecture "arm64";/);
    assert.deepEqual(/APT::Update::Post-Invoke-Success:: /.test(text), false);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

async function hasApt(): Promise<boolean> {
  try {
    await Deno.stat("/usr/bin/apt-config");
    return true;
  } catch {
    console.log("apt-config not found: apt-config check skipped");
    return false;
  }
}
