import assert from "node:assert/strict";
import { guestEnv, runHost, SMOKE_CMD, suiteCommand } from "./run_vm.ts";

Deno.test("guestEnv round-trips through a shell, quotes and all", async () => {
  const cmd =
    `deno eval 'console.log("it'"'"'s $HOME")' && echo "$TEST_DURATION"`;
  const env = guestEnv({
    GUEST_CMD: cmd,
    TEST_DURATION: "5s",
    RESULTS: "/results",
  });
  const tmp = await Deno.makeTempFile();
  try {
    await Deno.writeTextFile(tmp, env);
    const out = await new Deno.Command("sh", {
      args: [
        "-c",
        `. ${tmp}; sh -c 'printf "%s|%s|%s" "$GUEST_CMD" "$TEST_DURATION" "$RESULTS"'`,
      ],
      stdout: "piped",
    }).output();
    assert.equal(new TextDecoder().decode(out.stdout), `${cmd}|5s|/results`);
  } finally {
    await Deno.remove(tmp);
  }
  assert.throws(() => guestEnv({ "BAD-NAME": "x" }), /bad variable name/);
});

Deno.test("the default guest command is the whole suite; --checks narrows it", () => {
  assert.equal(
    suiteCommand(),
    'deno run -A lib/vm/guest_suite.ts --checks kernel-tests,validate,stability,profile --duration "$TEST_DURATION"',
  );
  assert.match(suiteCommand(["stability"]), /--checks stability /);
  assert.equal(SMOKE_CMD, "deno run -A lib/vm/guest_smoke.ts");
});

Deno.test("runHost runs the command from the project root with TEST_DURATION and RESULTS", async () => {
  const root = await Deno.makeTempDir();
  // Both runs: a cache of their own, quiet, no fixtures to build.
  const base = {
    timeoutS: 30,
    bootTimeoutS: 1,
    accel: "auto",
    root,
    log: () => {},
    fixtures: false,
  } as const;
  try {
    const r = await runHost({
      ...base,
      guestCmd:
        `test -f lib/vm/vms.json && printf '{"d":"%s"}' "$TEST_DURATION" > "$RESULTS/smoke.json"`,
      duration: "7s",
    });
    assert.equal(r.pass, true, r.reason);
    assert.equal(r.vm, "host");
    assert.deepEqual(r.json, { d: "7s" });
    const bad = await runHost({ ...base, guestCmd: "exit 4", duration: "1s" });
    assert.equal(bad.pass, false);
    assert.equal(bad.reason, "command exited 4");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
