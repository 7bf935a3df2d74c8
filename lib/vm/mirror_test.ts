import assert from "node:assert/strict";
import { DEFAULT_MIRROR, detectMirror } from "./mirror.ts";

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
