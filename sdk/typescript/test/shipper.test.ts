import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { after, before, beforeEach, test } from "node:test";
import { flush, record, shutdown, stats } from "../src/index.node.js";
import { backoffDelay, parseRetryAfter } from "../src/shipper.js";
import { PKG, setup, startIngest, until } from "./helpers.js";

let ingest: Awaited<ReturnType<typeof startIngest>>;
const rejections: unknown[] = [];
const onRejection = (reason: unknown) => rejections.push(reason);

before(async () => {
  ingest = await startIngest();
  process.on("unhandledRejection", onRejection);
});

after(async () => {
  process.off("unhandledRejection", onRejection);
  assert.deepEqual(rejections, [], "the SDK never leaves an unhandled rejection");
  await ingest.close();
});

beforeEach(async () => {
  await shutdown(0);
  ingest.batches.length = 0;
  ingest.attempts.length = 0;
  ingest.respond(() => ({ status: 202 }));
});

function recordMany(n: number, prefix = "e"): void {
  for (let i = 0; i < n; i++) {
    record({ provider: "openai", model: "gpt-4o", usage: { input_tokens: 10 + i, output_tokens: 1 }, feature: `${prefix}-${i}` });
  }
}

test("batches hold at most maxBatchEvents events and are gzipped", async () => {
  setup(ingest.url, { maxBatchEvents: 50 });
  recordMany(120);
  assert.equal(await flush(), true);
  assert.equal(ingest.events().length, 120);
  assert.ok(ingest.batches.every((b) => b.events.length <= 50));
  assert.equal(ingest.batches[0]?.headers["content-encoding"], "gzip");
  assert.equal(ingest.batches[0]?.headers.authorization, "Bearer test-key");
  assert.equal(new Set(ingest.events().map((e) => e.request_id)).size, 120);
});

test("batches stay under maxBatchBytes", async () => {
  setup(ingest.url, { maxBatchBytes: 4096, gzip: false });
  recordMany(60);
  await flush();
  assert.equal(ingest.events().length, 60);
  assert.ok(ingest.batches.length > 1);
  for (const b of ingest.batches) assert.ok(Buffer.byteLength(JSON.stringify(b.events)) <= 4096);
  assert.equal(ingest.batches[0]?.headers["content-encoding"], undefined);
});

test("retries reuse the batch_id and honour Retry-After", async () => {
  setup(ingest.url, { backoffMax: 5 });
  let calls = 0;
  ingest.respond(() => (++calls <= 2 ? { status: 503, headers: { "Retry-After": "0.2" } } : { status: 202 }));
  const before = stats().retried;
  const t0 = Date.now();
  recordMany(3);
  await flush(5000);
  assert.equal(ingest.events().length, 3);
  assert.equal(ingest.attempts.length, 3);
  assert.equal(new Set(ingest.attempts.map((a) => a.batch_id)).size, 1, "one batch_id across retries");
  assert.equal(stats().retried - before, 2);
  assert.ok(Date.now() - t0 >= 400, "waited at least Retry-After twice");
});

test("413 splits the batch until it fits; nothing is lost", async () => {
  setup(ingest.url);
  ingest.respond((b) => (b.events.length > 10 ? { status: 413 } : { status: 202 }));
  recordMany(64);
  await flush();
  assert.equal(ingest.events().length, 64);
  assert.ok(ingest.batches.every((b) => b.events.length <= 10));
});

test("refused batches are dropped and counted by reason", async () => {
  setup(ingest.url);
  const before = stats().dropped;
  ingest.respond(() => ({ status: 400, body: { detail: "bad" } }));
  recordMany(2);
  await flush();
  ingest.respond(() => ({ status: 401 }));
  recordMany(3);
  await flush();
  ingest.respond(() => ({ status: 202, body: { accepted: 1, duplicates: 0, rejected: [{ index: 1, error: "x" }] } }));
  recordMany(2);
  await flush();
  const after = stats().dropped;
  assert.equal((after.bad_request ?? 0) - (before.bad_request ?? 0), 2);
  assert.equal((after.unauthorized ?? 0) - (before.unauthorized ?? 0), 3);
  assert.equal((after.rejected ?? 0) - (before.rejected ?? 0), 1);
});

test("an unreachable ingest: retries exhausted and counted, nothing thrown", async () => {
  setup("http://127.0.0.1:9", { maxRetries: 2 });
  const before = stats().dropped.retries_exhausted ?? 0;
  recordMany(5);
  assert.equal(await flush(5000), true);
  assert.equal((stats().dropped.retries_exhausted ?? 0) - before, 5);
});

test("a full queue drops new events and counts them", async () => {
  setup(ingest.url, { maxQueueEvents: 10, flushInterval: 60 });
  const before = stats().dropped.queue_full ?? 0;
  recordMany(25);
  assert.equal((stats().dropped.queue_full ?? 0) - before, 15);
  assert.equal(stats().queued, 10);
  await flush();
  assert.equal(ingest.events().length, 10);
});

test("ingest back: a waiting backlog does not wait out a long backoff, and drains at full speed", async () => {
  setup(ingest.url, { maxQueueEvents: 200, maxBatchEvents: 50, backoffBase: 20, backoffMax: 30, maxRetries: 3 });
  const exhausted = stats().dropped.retries_exhausted ?? 0;
  // An outage: the first retry of the batch would wait 10–20 s.
  ingest.respond(() => ({ status: 503 }));
  recordMany(50, "early");
  await until(() => ingest.attempts.length >= 1);
  // The app keeps producing until the queue is full; probes (not counted as retries, so the
  // batch outlives maxRetries) find the ingest still down…
  recordMany(200, "late");
  await until(() => ingest.attempts.length >= 6, 3000);
  const ours = () => ingest.events().filter((e) => /^(early|late)-/.test(String(e.feature)));
  assert.equal(ours().length, 0);
  const probed = ingest.attempts.filter((a) => a.status === 503);
  assert.equal(new Set(probed.map((a) => a.batch_id)).size, 1, "the same batch probed");
  // … then the ingest recovers: the backlog goes out back to back.
  ingest.respond(() => ({ status: 202 }));
  const t0 = Date.now();
  await until(() => ours().length >= 200, 3000);
  const took = Date.now() - t0;
  assert.ok(took < 1500, `drained in ${took} ms`);
  const early = ours().filter((e) => String(e.feature).startsWith("early-")).length;
  assert.equal(early, 50, "the batch that waited through the outage was delivered");
  assert.equal((stats().dropped.retries_exhausted ?? 0) - exhausted, 0);
});

test("a Retry-After is the floor of a probe", async () => {
  setup(ingest.url, { maxQueueEvents: 100, maxBatchEvents: 50, backoffBase: 20, backoffMax: 30 });
  ingest.respond(() => ({ status: 429, headers: { "Retry-After": "1" } }));
  recordMany(50);
  await until(() => ingest.attempts.length >= 1);
  const t0 = Date.now();
  recordMany(100); // the queue fills: probe soon, but not before Retry-After
  await until(() => ingest.attempts.length >= 2, 3000);
  assert.ok(Date.now() - t0 >= 800, "waited for Retry-After");
});

test("Retry-After and backoff arithmetic", () => {
  assert.equal(parseRetryAfter("3"), 3);
  assert.equal(parseRetryAfter(null), null);
  assert.ok((parseRetryAfter(new Date(Date.now() + 5000).toUTCString()) ?? 0) > 3);
  for (let i = 0; i < 50; i++) {
    const d = backoffDelay(3, 0.5, 30, null);
    assert.ok(d >= 2 && d <= 4);
    assert.ok(backoffDelay(0, 0.5, 30, 10) >= 10);
    assert.ok(backoffDelay(20, 0.5, 30, null) <= 30);
  }
});

function runChild(code: string, env: Record<string, string>): Promise<{ code: number | null; ms: number; out: string }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", code], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", (d) => {
      out += d;
    });
    child.on("exit", (c) => resolve({ code: c, ms: Date.now() - t0, out }));
  });
}

const SDK = JSON.stringify(join(PKG, "dist", "node.mjs"));

test("a process exits on its own and drains what is queued on beforeExit", async () => {
  const code = `import { record } from ${SDK};
record({ provider: "openai", model: "gpt-4o", usage: { input_tokens: 7 }, feature: "child" });`;
  const result = await runChild(code, {
    COSTOBS_INGEST_URL: ingest.url,
    COSTOBS_API_KEY: "k",
    COSTOBS_FLUSH_INTERVAL: "60",
  });
  assert.equal(result.code, 0, result.out);
  assert.ok(result.ms < 10_000);
  assert.equal(ingest.events().filter((e) => e.feature === "child").length, 1);
});

test("an unreachable ingest never keeps the process alive past the shutdown timeout", async () => {
  const code = `import { record } from ${SDK};
record({ provider: "openai", model: "gpt-4o", usage: { input_tokens: 7 } });`;
  const result = await runChild(code, {
    COSTOBS_INGEST_URL: "http://127.0.0.1:9",
    COSTOBS_API_KEY: "k",
    COSTOBS_SHUTDOWN_TIMEOUT: "0.5",
    COSTOBS_BACKOFF_BASE: "5",
  });
  assert.equal(result.code, 0, result.out);
  assert.ok(result.ms < 4000, `exited after ${result.ms} ms`);
});
