import assert from "node:assert";
import { LiveServer } from "./server.ts";
import { decodeChunk, encodeChunk } from "./page/protocol.js";

const PAGE = "<!doctype html><title>t</title>";

/** A raw HTTP/1.1 request over TCP (to set Host and Origin freely). */
async function rawRequest(
  port: number,
  lines: string[],
): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(
      new TextEncoder().encode(`${lines.join("\r\n")}\r\n\r\n`),
    );
    const buf = new Uint8Array(4096);
    const n = await conn.read(buf);
    return new TextDecoder().decode(buf.subarray(0, n ?? 0));
  } finally {
    conn.close();
  }
}

/** A test page client: collects messages, acks when asked to. */
class TestClient {
  ws: WebSocket;
  chunks: number[] = [];
  events = 0;
  bytes = 0;
  json: Record<string, unknown>[] = [];
  closed: Promise<CloseEvent>;
  opened: Promise<void>;
  constructor(url: string, public autoAck: boolean) {
    this.ws = new WebSocket(url);
    this.ws.binaryType = "arraybuffer";
    this.opened = new Promise((r) => this.ws.onopen = () => r());
    this.closed = new Promise((r) => this.ws.onclose = (e) => r(e));
    this.ws.onmessage = (e) => {
      if (typeof e.data === "string") {
        this.json.push(JSON.parse(e.data));
        return;
      }
      const c = decodeChunk(e.data)!;
      this.chunks.push(c.seq);
      this.events += c.events;
      this.bytes += e.data.byteLength;
      if (this.autoAck) {
        this.ws.send(JSON.stringify({ t: "ack", bytes: this.bytes }));
      }
    };
  }
  last(t: string) {
    return this.json.filter((m) => m.t === t).at(-1);
  }
}

const tick = (ms = 20) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, ok: () => boolean, ms = 5000) {
  const end = performance.now() + ms;
  while (!ok()) {
    if (performance.now() > end) throw new Error(`timed out waiting: ${what}`);
    await tick(10);
  }
}

Deno.test("live server: GET of the page and the socket only; loopback Host only", async () => {
  const s = await LiveServer.start({ port: 0, page: PAGE });
  try {
    const res = await fetch(s.url);
    assert.equal(res.status, 200);
    assert.match(
      res.headers.get("content-security-policy")!,
      /connect-src 'self'/,
    );
    assert.equal(await res.text(), PAGE);
    for (const method of ["POST", "PUT", "DELETE"]) {
      const r = await fetch(s.url, { method });
      await r.body?.cancel();
      assert.equal(r.status, 405, method);
    }
    const nf = await fetch(`${s.url}parser.wasm`);
    await nf.body?.cancel();
    assert.equal(nf.status, 404);
    const port = s.addr.port;
    assert.match(
      await rawRequest(port, ["GET / HTTP/1.1", "Host: evil.example"]),
      /^HTTP\/1\.1 421/,
    );
    assert.match(
      await rawRequest(port, ["GET / HTTP/1.1", `Host: localhost:${port}`]),
      /^HTTP\/1\.1 200/,
    );
    // A WebSocket from another origin is refused.
    assert.match(
      await rawRequest(port, [
        "GET /ws HTTP/1.1",
        `Host: 127.0.0.1:${port}`,
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Origin: http://evil.example",
      ]),
      /^HTTP\/1\.1 403/,
    );
  } finally {
    await s.close();
  }
});

Deno.test("live server: a page that does not keep up is skipped and told so; the others get everything", async () => {
  const s = await LiveServer.start({
    port: 0,
    page: PAGE,
    windowBytes: 2 << 20,
  });
  const ws = s.url.replace("http", "ws") + "ws";
  const fast = new TestClient(ws, true);
  const slow = new TestClient(ws, false);
  try {
    await Promise.all([fast.opened, slow.opened]);
    await until("both joined", () => s.clients === 2);
    const records = new Uint8Array(100_000);
    const chunks = 60; // 6 MB: three times the window
    for (let seq = 0; seq < chunks; seq++) {
      s.offer(encodeChunk(seq, 10, records), seq, 10);
      await tick(5); // the fast page acks in between
    }
    s.sendCounters({ consumed: chunks * 10 });
    await until(
      "both counted",
      () =>
        fast.last("counters") !== undefined &&
        slow.last("counters") !== undefined,
    );
    const f = fast.last("counters")!;
    assert.equal(fast.events, chunks * 10);
    assert.deepEqual(fast.chunks, [...Array(chunks).keys()]);
    assert.equal(f.sentEvents, chunks * 10);
    assert.equal(f.skippedEvents, 0);
    const w = slow.last("counters")!;
    assert.ok((w.skippedChunks as number) > 0, "the slow page was skipped");
    assert.ok(
      (w.sentBytes as number) <= 2 << 20,
      "no more than the window in flight",
    );
    assert.equal(w.sentEvents, slow.events, "it got exactly what it was sent");
    assert.equal(
      (w.sentEvents as number) + (w.skippedEvents as number),
      w.offeredEvents,
    );
    assert.equal(w.offeredEvents, chunks * 10);
    // Once it acks, it is sent chunks again.
    slow.ws.send(JSON.stringify({ t: "ack", bytes: slow.bytes }));
    await until(
      "ack seen",
      () => s.clientCounts().every((c) => c.ackedBytes === c.sentBytes),
    );
    s.offer(encodeChunk(chunks, 10, records), chunks, 10);
    await until("resumed", () => slow.chunks.at(-1) === chunks);
  } finally {
    fast.ws.close();
    slow.ws.close();
    await s.close();
  }
});

Deno.test("live server: a malformed, binary, oversized or impossible message closes that page only", async () => {
  const s = await LiveServer.start({ port: 0, page: PAGE });
  const ws = s.url.replace("http", "ws") + "ws";
  const good = new TestClient(ws, true);
  try {
    await good.opened;
    const cases: [string, (w: WebSocket) => void, number][] = [
      ["not json", (w) => w.send("hello"), 1008],
      ["another type", (w) => w.send('{"t":"stop","bytes":0}'), 1008],
      ["binary", (w) => w.send(new Uint8Array([1, 2, 3])), 1003],
      [
        "oversized",
        (w) => w.send(`{"t":"ack","bytes":0,"pad":"${"x".repeat(10_000)}"}`),
        1009,
      ],
      [
        "ack of more than sent",
        (w) => w.send('{"t":"ack","bytes":99999999}'),
        1008,
      ],
    ];
    for (const [what, send, code] of cases) {
      const bad = new TestClient(ws, false);
      await bad.opened;
      send(bad.ws);
      const e = await bad.closed;
      assert.equal(e.code, code, what);
    }
    assert.equal(s.clients, 1, "the good page is still connected");
    s.offer(encodeChunk(0, 3, new Uint8Array(40)), 0, 3);
    await until("good page served", () => good.events === 3);
    assert.deepEqual(s.rejected, {
      "malformed message": 3,
      "binary message": 1,
      "oversized message": 1,
    });
  } finally {
    good.ws.close();
    await s.close();
  }
});

Deno.test("live server: at most maxClients pages; hello, replayed names, end", async () => {
  const s = await LiveServer.start({
    port: 0,
    page: PAGE,
    maxClients: 1,
    hello: { host: "h" },
  });
  const ws = s.url.replace("http", "ws") + "ws";
  s.offer(encodeChunk(0, 5, new Uint8Array(40)), 0, 5);
  s.broadcast({ t: "symbols", entries: [["7:1!", "f", "m", "user"]] }, true);
  const a = new TestClient(ws, true);
  try {
    await a.opened;
    await until("hello and replay", () => a.json.length >= 2);
    assert.deepEqual(a.json[0], {
      t: "hello",
      host: "h",
      windowBytes: 8 << 20,
      beforeJoin: 5,
      seq: 0,
    });
    assert.equal(a.json[1].t, "symbols");
    const b = new WebSocket(ws);
    const refused = await new Promise<string>((r) => {
      b.onerror = () => r("error");
      b.onopen = () => r("open");
    });
    assert.equal(refused, "error");
  } finally {
    a.ws.close();
    await s.close();
  }
});
