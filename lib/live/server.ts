/**
 * The live view's server (`profile --serve`): one page (GET /) and one
 * WebSocket (/ws), nothing else. It forwards chunks of raw ring buffer
 * records to every connected page as they are consumed, broadcasts what
 * the pages need to name them, and tells each page, about every second,
 * how many events it offered, sent and skipped for that page.
 *
 * A slow page never stalls the profiler: the server sends a page at most
 * `windowBytes` that the page has not acknowledged yet; a chunk that would
 * go past that is skipped for that page (and counted, and reported to it),
 * so the memory held per page is bounded and the consumer never waits.
 * A page that sends anything but a small, valid ack is disconnected; no
 * other page notices.
 *
 * It binds to 127.0.0.1 unless told otherwise. While it is bound to a
 * loopback address it answers only requests whose Host is a loopback name
 * (so a web page elsewhere cannot reach it through DNS rebinding), and it
 * accepts a WebSocket only from its own page's origin (or from a client
 * that sends no Origin, which is no browser).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { LiveServer } from "./server.ts";
 * const server = await LiveServer.start({ hostname: "127.0.0.1", port: 0, page: "<!doctype html><p>hi</p>" });
 * const res = await fetch(server.url);
 * assert.equal(await res.text(), "<!doctype html><p>hi</p>");
 * assert.equal((await fetch(server.url, { method: "POST" }).then((r) => { r.body?.cancel(); return r.status; })), 405);
 * await server.close();
 * ```
 * @module
 */
import { isLoopback } from "./loopback.ts";
import {
  CLOSE,
  MAX_CLIENT_MESSAGE_BYTES,
  parseClientMessage,
} from "./page/protocol.js";

/** Bytes sent to a page and not yet acknowledged, at most (default). */
export const DEFAULT_WINDOW_BYTES = 8 << 20;
/** Pages connected at once, at most (default). */
export const DEFAULT_MAX_CLIENTS = 8;

/** How to serve. */
export interface LiveServerOptions {
  /** The address to bind (default 127.0.0.1). */
  hostname?: string;
  /** The port (0: any free one). */
  port: number;
  /** The page, served at GET /. */
  page: string;
  /** See {@link DEFAULT_WINDOW_BYTES}. */
  windowBytes?: number;
  /** See {@link DEFAULT_MAX_CLIENTS}. */
  maxClients?: number;
  /** Extra fields of every page's `hello` message. */
  hello?: Record<string, unknown>;
}

/** What the server did for one page (reported to it in `counters`). */
export interface ClientCounts {
  /** Events forwarded before it joined. */
  beforeJoin: number;
  /** Chunks and events sent to it. */
  sentChunks: number;
  sentEvents: number;
  sentBytes: number;
  /** Bytes it acknowledged. */
  ackedBytes: number;
  /** Chunks, events and bytes skipped because it was `windowBytes` behind. */
  skippedChunks: number;
  skippedEvents: number;
  skippedBytes: number;
}

interface Client extends ClientCounts {
  id: number;
  ws: WebSocket;
  open: boolean;
}

/** The {@link ClientCounts} of a page, alone (not its socket). */
function countsOf(c: ClientCounts): ClientCounts {
  return {
    beforeJoin: c.beforeJoin,
    sentChunks: c.sentChunks,
    sentEvents: c.sentEvents,
    sentBytes: c.sentBytes,
    ackedBytes: c.ackedBytes,
    skippedChunks: c.skippedChunks,
    skippedEvents: c.skippedEvents,
    skippedBytes: c.skippedBytes,
  };
}

/** The live view's HTTP and WebSocket server. */
export class LiveServer {
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  readonly #page: string;
  readonly #window: number;
  readonly #maxClients: number;
  readonly #hello: Record<string, unknown>;
  readonly #loopback: boolean;
  readonly #clients = new Map<number, Client>();
  readonly #replay: string[] = [];
  #nextId = 1;
  #seq = -1;
  /** Events and chunks offered to the pages so far. */
  offeredEvents = 0;
  offeredChunks = 0;
  /** Connections closed for a bad message, by reason. */
  readonly rejected: Record<string, number> = {};
  /** The address it listens on. */
  readonly addr: Deno.NetAddr;
  /** The page's URL. */
  readonly url: string;
  #closed = false;

  private constructor(
    o: LiveServerOptions,
    server: Deno.HttpServer<Deno.NetAddr>,
  ) {
    this.#server = server;
    this.#page = o.page;
    this.#window = o.windowBytes ?? DEFAULT_WINDOW_BYTES;
    this.#maxClients = o.maxClients ?? DEFAULT_MAX_CLIENTS;
    this.#hello = o.hello ?? {};
    this.addr = server.addr;
    this.#loopback = isLoopback(this.addr.hostname);
    const h = this.addr.hostname.includes(":")
      ? `[${this.addr.hostname}]`
      : this.addr.hostname;
    this.url = `http://${h}:${this.addr.port}/`;
  }

  /**
   * Binds and serves. Throws (Deno.errors.AddrInUse, PermissionDenied, ...)
   * if it cannot bind.
   */
  static start(o: LiveServerOptions): Promise<LiveServer> {
    if ((o.windowBytes ?? DEFAULT_WINDOW_BYTES) < 2 << 20) {
      throw new RangeError("the per-page window must be at least 2 MiB");
    }
    return new Promise((resolve, reject) => {
      let self: LiveServer | undefined;
      try {
        const server = Deno.serve({
          hostname: o.hostname ?? "127.0.0.1",
          port: o.port,
          onListen: () => {},
          onError: () => new Response("internal error", { status: 500 }),
        }, (req) => self!.#handle(req));
        self = new LiveServer(o, server);
        resolve(self);
      } catch (err) {
        reject(err);
      }
    });
  }

  /** The Host values this server answers (loopback mode). */
  #hostAllowed(host: string | null): boolean {
    if (!this.#loopback) return true;
    if (host === null) return false;
    const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(host);
    if (!m) return false;
    if (m[2] !== undefined && Number(m[2]) !== this.addr.port) return false;
    return isLoopback(m[1]);
  }

  #handle(req: Request): Response {
    const headers = {
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
    };
    if (req.method !== "GET") {
      return new Response("only GET\n", {
        status: 405,
        headers: { ...headers, allow: "GET" },
      });
    }
    if (!this.#hostAllowed(req.headers.get("host"))) {
      return new Response("this server answers loopback names only\n", {
        status: 421,
        headers,
      });
    }
    const url = new URL(req.url);
    if (url.pathname === "/") {
      return new Response(this.#page, {
        headers: {
          ...headers,
          "content-type": "text/html; charset=utf-8",
          "content-security-policy":
            "default-src 'none'; script-src 'unsafe-inline' 'wasm-unsafe-eval'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        },
      });
    }
    if (url.pathname === "/ws") return this.#upgrade(req, headers);
    return new Response("not found\n", { status: 404, headers });
  }

  #upgrade(req: Request, headers: Record<string, string>): Response {
    if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return new Response("WebSocket only\n", { status: 426, headers });
    }
    const origin = req.headers.get("origin");
    if (origin !== null && origin !== `http://${req.headers.get("host")}`) {
      return new Response("cross-origin WebSocket refused\n", {
        status: 403,
        headers,
      });
    }
    if (this.#closed || this.#clients.size >= this.#maxClients) {
      return new Response("too many pages connected\n", {
        status: 503,
        headers,
      });
    }
    const { socket, response } = Deno.upgradeWebSocket(req, {
      idleTimeout: 0,
    });
    socket.binaryType = "arraybuffer";
    const c: Client = {
      id: this.#nextId++,
      ws: socket,
      open: false,
      beforeJoin: this.offeredEvents,
      sentChunks: 0,
      sentEvents: 0,
      sentBytes: 0,
      ackedBytes: 0,
      skippedChunks: 0,
      skippedEvents: 0,
      skippedBytes: 0,
    };
    this.#clients.set(c.id, c);
    socket.onopen = () => {
      c.open = true;
      c.beforeJoin = this.offeredEvents;
      this.#send(c, {
        t: "hello",
        ...this.#hello,
        windowBytes: this.#window,
        beforeJoin: c.beforeJoin,
        seq: this.#seq,
      });
      for (const m of this.#replay) this.#sendText(c, m);
    };
    socket.onmessage = (e) => this.#onMessage(c, e);
    socket.onclose = () => this.#clients.delete(c.id);
    socket.onerror = () => this.#drop(c);
    return response;
  }

  #onMessage(c: Client, e: MessageEvent): void {
    if (typeof e.data !== "string") {
      return this.#reject(c, CLOSE.UNSUPPORTED, "binary message");
    }
    if (e.data.length > MAX_CLIENT_MESSAGE_BYTES) {
      return this.#reject(c, CLOSE.TOO_BIG, "oversized message");
    }
    const m = parseClientMessage(e.data);
    if (m === null || m.bytes > c.sentBytes || m.bytes < c.ackedBytes) {
      return this.#reject(c, CLOSE.POLICY, "malformed message");
    }
    c.ackedBytes = m.bytes;
  }

  #reject(c: Client, code: number, why: string): void {
    this.rejected[why] = (this.rejected[why] ?? 0) + 1;
    try {
      c.ws.close(code, why);
    } catch { /* already closing */ }
    this.#drop(c);
  }

  #drop(c: Client): void {
    c.open = false;
    this.#clients.delete(c.id);
  }

  #sendText(c: Client, text: string): void {
    if (!c.open || c.ws.readyState !== WebSocket.OPEN) return;
    try {
      c.ws.send(text);
    } catch {
      this.#drop(c);
    }
  }

  #send(c: Client, msg: object): void {
    this.#sendText(c, JSON.stringify(msg));
  }

  /** Pages connected now. */
  get clients(): number {
    return [...this.#clients.values()].filter((c) => c.open).length;
  }

  /** Each connected page's counts (for the terminal and tests). */
  clientCounts(): ClientCounts[] {
    return [...this.#clients.values()].filter((c) => c.open).map(countsOf);
  }

  /**
   * Offers one chunk message (see protocol.js: its header carries `seq`
   * and `events`) to every page: sent where the page is less than the
   * window behind, else skipped and counted. Never waits.
   */
  offer(message: Uint8Array, seq: number, events: number): void {
    this.#seq = seq;
    this.offeredEvents += events;
    this.offeredChunks++;
    for (const c of this.#clients.values()) {
      if (!c.open) continue;
      if (c.sentBytes - c.ackedBytes + message.byteLength > this.#window) {
        c.skippedChunks++;
        c.skippedEvents += events;
        c.skippedBytes += message.byteLength;
        continue;
      }
      try {
        c.ws.send(message);
      } catch {
        this.#drop(c);
        continue;
      }
      c.sentChunks++;
      c.sentEvents += events;
      c.sentBytes += message.byteLength;
    }
  }

  /**
   * Sends a JSON message to every page; with `replay`, also to every page
   * that joins later (names and process names, which a page needs whenever
   * it joined).
   */
  broadcast(msg: object, replay = false): void {
    const text = JSON.stringify(msg);
    if (replay) this.#replay.push(text);
    for (const c of this.#clients.values()) this.#sendText(c, text);
  }

  /**
   * Sends every page its `counters`: `common` (the server's own totals)
   * and what was offered, sent and skipped for it, as of the last chunk
   * offered (`seq`).
   */
  sendCounters(common: Record<string, unknown>): void {
    for (const c of this.#clients.values()) {
      this.#send(c, {
        t: "counters",
        ...common,
        seq: this.#seq,
        offeredEvents: this.offeredEvents - c.beforeJoin,
        ...countsOf(c),
        windowBytes: this.#window,
      });
    }
  }

  /**
   * Waits until every page has acknowledged all it was sent, or `ms`
   * passed (for the end of a run: the pages see the last chunks).
   */
  async drain(ms: number): Promise<boolean> {
    const until = performance.now() + ms;
    while (performance.now() < until) {
      const behind = [...this.#clients.values()].some((c) =>
        c.open && c.ackedBytes < c.sentBytes
      );
      if (!behind) return true;
      await new Promise((r) => setTimeout(r, 20));
    }
    return false;
  }

  /** Closes every page's socket and stops serving. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Close each socket and give the close handshake a moment, so pages
    // see why (the run ended) rather than a dropped connection.
    const closing = [...this.#clients.values()].map((c) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1000);
        c.ws.addEventListener("close", () => {
          clearTimeout(timer);
          resolve();
        });
        try {
          c.ws.close(CLOSE.END, "the profile ended");
        } catch {
          clearTimeout(timer);
          resolve();
        }
      })
    );
    await Promise.all(closing);
    this.#clients.clear();
    await this.#server.shutdown();
  }
}
