// The delivery loop over a fake push and read-back (the real path, against a
// real Pyroscope, is tests/kernel/agent_test.ts).
import assert from "node:assert/strict";
import {
  backoffMs,
  type Confirm,
  Deliverer,
  isPermanentRefusal,
  type Push,
  type RetryPolicy,
} from "./delivery.ts";
import { type IntervalMeta, Spool } from "./spool.ts";

const meta = (i: number): IntervalMeta => ({
  name: "svc",
  labels: {},
  fromMs: i,
  untilMs: i + 1,
  samples: 10,
});

class HttpError extends Error {
  constructor(readonly status: number, body: string) {
    super(body);
  }
}

const fast = { baseMs: 1, capMs: 5, confirmDelayMs: 1, attemptTimeoutMs: 200 };

/** A spool holding a 1-byte interval for each start time, oldest first. */
function spoolOf(...starts: number[]): Spool {
  const spool = new Spool();
  for (const i of starts) spool.push(meta(i), new Uint8Array(1));
  return spool;
}

/**
 * Delivers what `spool` holds through a Deliverer made with these arguments,
 * giving its stop up to 5 s (these tests' pushes end long before), and
 * returns the Deliverer, whose counters the test then reads.
 */
async function deliver(
  spool: Spool,
  push: Push,
  policy: RetryPolicy,
  confirm?: Confirm,
): Promise<Deliverer> {
  const d = new Deliverer(spool, push, policy, confirm);
  d.start();
  await d.stop(5000);
  return d;
}

Deno.test("delivery: failures are retried until accepted, in order, and read back", async () => {
  const spool = spoolOf(0, 1, 2, 3, 4);
  const stored = new Map<number, number>();
  let calls = 0;
  const d = await deliver(
    spool,
    (m) => {
      calls++;
      // The first three attempts fail as a server restarting would.
      if (calls <= 3) return Promise.reject(new HttpError(503, "unavailable"));
      if (!stored.has(m.fromMs)) stored.set(m.fromMs, m.samples);
      return Promise.resolve();
    },
    fast,
    (ms) => Promise.resolve(ms.map((m) => stored.get(m.fromMs) ?? 0)),
  );
  assert.equal(d.counters.pushed, 5);
  assert.equal(d.counters.confirmed, 5);
  assert.equal(d.counters.retried, 3);
  assert.equal(spool.depth().entries, 0);
  assert.deepEqual([...stored.keys()], [0, 1, 2, 3, 4], "oldest first");
});

Deno.test("delivery: an acknowledged interval the server does not hold is pushed again", async () => {
  const spool = spoolOf(7);
  let pushes = 0;
  let held = 0;
  const d = await deliver(
    spool,
    () => {
      pushes++;
      // The first acknowledgement is a lie (lost by the server); the second sticks.
      if (pushes >= 2) held = 10;
      return Promise.resolve();
    },
    { ...fast, confirmChecks: 2 },
    (ms) => Promise.resolve(ms.map(() => held)),
  );
  assert.equal(pushes, 2);
  assert.equal(d.counters.repushed, 1);
  assert.equal(d.counters.confirmed, 1);
  assert.equal(spool.depth().entries, 0);
});

Deno.test("delivery: a permanent refusal is given up after 3 attempts and counted; the rest goes on", async () => {
  const spool = spoolOf(1, 2);
  const d = await deliver(
    spool,
    (m) =>
      m.fromMs === 1
        ? Promise.reject(new HttpError(413, "too large"))
        : Promise.resolve(),
    fast,
  );
  assert.equal(d.counters.rejected, 1);
  assert.equal(d.counters.pushed, 1);
  assert.equal(d.counters.retried, 2);
  assert.equal(spool.depth().entries, 0);
});

Deno.test("delivery: a hanging push is abandoned at the attempt timeout and retried", async () => {
  let calls = 0;
  const d = await deliver(spoolOf(1), (_m, _b, signal) => {
    calls++;
    if (calls === 1) {
      return new Promise((_, reject) =>
        signal.addEventListener("abort", () => reject(new Error("aborted")))
      );
    }
    return Promise.resolve();
  }, { ...fast, attemptTimeoutMs: 50 });
  assert.equal(d.counters.timeouts, 1);
  assert.equal(d.counters.pushed, 1);
});

Deno.test("delivery: stop is bounded when the server never answers; the entry stays queued", async () => {
  const spool = spoolOf(1);
  const d = new Deliverer(
    spool,
    () => Promise.reject(new Error("connection refused")),
    fast,
  );
  d.start();
  const t0 = performance.now();
  await d.stop(300);
  assert.ok(performance.now() - t0 < 2000);
  assert.equal(spool.depth().entries, 1);
  assert.equal(d.counters.pushed, 0);
});

Deno.test("delivery: which refusals are permanent, and the backoff's bounds", () => {
  assert.equal(isPermanentRefusal(413, ""), true);
  assert.equal(isPermanentRefusal(400, ""), true);
  assert.equal(
    isPermanentRefusal(422, "profile is outside of ingestion window"),
    true,
  );
  assert.equal(isPermanentRefusal(422, "pushing failed: empty ring"), false);
  assert.equal(isPermanentRefusal(500, ""), false);
  assert.equal(isPermanentRefusal(undefined, "fetch failed"), false);
  for (let a = 0; a < 40; a++) {
    const ms = backoffMs(a, { baseMs: 100, capMs: 2000 });
    assert.ok(ms >= 0 && ms < 2000);
  }
  assert.equal(backoffMs(2, { baseMs: 100, capMs: 2000 }, () => 0.5), 200);
});
