/** Test helpers: a fake ingest and a fake provider, both real HTTP servers on 127.0.0.1. */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, join } from "node:path";
import { after, before, beforeEach } from "node:test";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { Ajv2020 } from "ajv/dist/2020.js";
import type { Options } from "../src/config.js";
import { configure, flush } from "../src/index.node.js";

/** sdk/typescript (tests run from build-test/test). */
export const PKG = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const REPO = join(PKG, "..", "..");
export function repoPath(path: string): string {
  return join(REPO, path);
}

const schema = JSON.parse(readFileSync(repoPath("sdk/wire-schema.v1.json"), "utf8"));
const ajv = new Ajv2020({ allErrors: true, strict: false, validateFormats: false });
export const validateBatch = ajv.compile(schema);

export type Event = Record<string, unknown> & { usage: Record<string, unknown> };
export interface Batch {
  batch_id: string;
  events: Event[];
  headers: IncomingMessage["headers"];
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

export type Answer = { status: number; body?: unknown; headers?: Record<string, string> };

/**
 * A fake ingest: validates every body against the wire schema (an invalid one is a test
 * failure, answered 400), records accepted batches, answers 202 unless `answer` says otherwise.
 */
export async function startIngest() {
  const batches: Batch[] = [];
  const attempts: Array<{ batch_id: string; count: number; status: number }> = [];
  const invalid: unknown[] = [];
  let answer: (batch: { batch_id: string; events: Event[] }) => Answer = () => ({ status: 202 });
  const server = createServer(async (req, res) => {
    let raw = await readBody(req);
    if (req.headers["content-encoding"] === "gzip") raw = gunzipSync(raw);
    const body = JSON.parse(raw.toString("utf8")) as { batch_id: string; events: Event[] };
    if (!validateBatch(body)) {
      invalid.push(validateBatch.errors);
      res.writeHead(400, { "Content-Type": "application/json" }).end('{"detail":"invalid"}');
      return;
    }
    const reply = answer(body);
    attempts.push({ batch_id: body.batch_id, count: body.events.length, status: reply.status });
    if (reply.status === 202) batches.push({ ...body, headers: req.headers });
    res.writeHead(reply.status, { "Content-Type": "application/json", ...(reply.headers ?? {}) });
    res.end(JSON.stringify(reply.body ?? { accepted: body.events.length, duplicates: 0, rejected: [] }));
  });
  const url = await listen(server);
  return {
    url,
    batches,
    attempts,
    invalid,
    events(): Event[] {
      return batches.flatMap((b) => b.events);
    },
    respond(fn: typeof answer): void {
      answer = fn;
    },
    close(): Promise<void> {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

export type Handler = (req: IncomingMessage, body: Buffer, res: ServerResponse) => void | Promise<void>;

/** A fake provider: routes "METHOD /path" (or a prefix ending in *) to handlers; records requests. */
export async function startProvider(routes: Record<string, Handler>) {
  const requests: Array<{ method: string; path: string; body: Record<string, unknown> | null; headers: IncomingMessage["headers"] }> = [];
  const server = createServer(async (req, res) => {
    const body = await readBody(req);
    const path = (req.url ?? "/").split("?")[0] as string;
    let parsed: Record<string, unknown> | null = null;
    try {
      parsed = body.length ? JSON.parse(body.toString("utf8")) : null;
    } catch {
      parsed = null;
    }
    requests.push({ method: req.method ?? "GET", path, body: parsed, headers: req.headers });
    const key = `${req.method} ${path}`;
    const handler = routes[key] ?? Object.entries(routes).find(([k]) => k.endsWith("*") && key.startsWith(k.slice(0, -1)))?.[1];
    if (handler === undefined) {
      res.writeHead(404).end("{}");
      return;
    }
    try {
      await handler(req, body, res);
    } catch {
      res.destroy();
    }
  });
  const url = await listen(server);
  return {
    url,
    port: (server.address() as AddressInfo).port,
    requests,
    close(): Promise<void> {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

export function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "Content-Type": "application/json", ...headers }).end(JSON.stringify(body));
}

/** Server-sent events; `cutAfter` drops the connection after that many events (a stream cut off). */
export async function sse(
  res: ServerResponse,
  events: Array<{ event?: string; data: unknown }>,
  opts: { cutAfter?: number; done?: boolean } = {},
): Promise<void> {
  res.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-cache" });
  let i = 0;
  for (const e of events) {
    if (opts.cutAfter !== undefined && i >= opts.cutAfter) {
      await new Promise((r) => setTimeout(r, 5));
      res.destroy();
      return;
    }
    const head = e.event ? `event: ${e.event}\n` : "";
    res.write(`${head}data: ${typeof e.data === "string" ? e.data : JSON.stringify(e.data)}\n\n`);
    i++;
    await new Promise((r) => setImmediate(r));
  }
  if (opts.done) res.write("data: [DONE]\n\n");
  res.end();
}

/** SDK errors swallowed by the guard, collected so a test can assert there were none. */
export const internalErrors: unknown[] = [];

export function setup(ingestUrl: string, extra: Options = {}): void {
  configure({
    ingestUrl,
    apiKey: "test-key",
    flushInterval: 0.01,
    backoffBase: 0.01,
    backoffMax: 0.05,
    onInternalError: (error) => internalErrors.push(error),
    ...extra,
  });
}

/** Wait until `predicate` holds (polling), or fail after `ms`. */
export async function until(predicate: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Unhandled rejections seen in this test process: the SDK must never leave one. */
export const unhandled: unknown[] = [];
process.on("unhandledRejection", (reason) => {
  unhandled.push(reason);
});

/**
 * A fake ingest and a fake provider for one test file: started before its tests, emptied
 * before each, closed (after checking no rejection went unhandled) at the end. `settings`
 * gives extra SDK options once the provider's port is known.
 */
export function servers(
  routes: Record<string, Handler>,
  opts: { settings?: (providerPort: number) => Options; ready?: (providerUrl: string) => void; reset?: () => void } = {},
) {
  const s = {
    ingest: null as unknown as Awaited<ReturnType<typeof startIngest>>,
    provider: null as unknown as Awaited<ReturnType<typeof startProvider>>,
    /** Flush, then wait for `n` events at the ingest (every batch valid against the wire schema). */
    async events(n: number): Promise<Event[]> {
      await flush();
      await until(() => s.ingest.events().length >= n);
      assert.deepEqual(s.ingest.invalid, []);
      return s.ingest.events();
    },
  };
  before(async () => {
    s.ingest = await startIngest();
    s.provider = await startProvider(routes);
    setup(s.ingest.url, opts.settings?.(s.provider.port) ?? {});
    opts.ready?.(s.provider.url);
  });
  after(async () => {
    assert.deepEqual(unhandled, [], "no unhandled rejection");
    await s.ingest.close();
    await s.provider.close();
  });
  beforeEach(() => {
    s.ingest.batches.length = 0;
    s.provider.requests.length = 0;
    internalErrors.length = 0;
    opts.reset?.();
  });
  return s;
}
