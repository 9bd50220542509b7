/**
 * End to end against the REAL server: `costobs up` (embedded NATS, writer, chDB) from the Python
 * side on a free port, started once for both tests here. Events sent by this SDK, and GenAI spans
 * sent by the real OpenTelemetry JS exporters to `/v1/traces`, are read back exactly from the read
 * API, with the cost equal to the last digit to what the Python SDK's pricing engine gives.
 */

import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { SpanKind } from "@opentelemetry/api";
import { type ExportResult, ExportResultCode } from "@opentelemetry/core";
import { OTLPTraceExporter as JsonTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { OTLPTraceExporter as ProtoTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { CompressionAlgorithm } from "@opentelemetry/otlp-exporter-base";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import OpenAI from "openai";
import { formatAtto } from "../src/decimal.js";
import { configure, flush, quote, record, requestContext, stats, wrap } from "../src/index.node.js";
import { json, REPO, startProvider } from "./helpers.js";

const COSTOBS = join(REPO, ".venv", "bin", "costobs");
const PYTHON = join(REPO, ".venv", "bin", "python");
const DEV_KEY = "costobs_dev_secret_key";
const skip = existsSync(COSTOBS) ? false : "the costobs server is not installed (run make install)";

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

let proc: ChildProcess | null = null;
let dataDir = "";
let base = "";
let log = "";

before(async () => {
  if (skip) return;
  dataDir = mkdtempSync(join(tmpdir(), "costobs-ts-e2e-"));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("COSTOBS_")));
  proc = spawn(COSTOBS, ["up", "--data-dir", join(dataDir, "data"), "--port", String(port), "--no-dashboard"], {
    env: {
      ...env,
      COSTOBS_ALERTD_PORT: "0",
      COSTOBS_BILLSYNCD_PORT: "0",
      // the OTLP test's configured attribute keys (on top of service.name / deployment.environment)
      COSTOBS_OTLP_ATTRIBUTE_MAP: JSON.stringify({ "app.customer_id": "customer_id", "app.pr": "tag:pr" }),
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  proc.stdout?.on("data", (d) => {
    log += d;
  });
  proc.stderr?.on("data", (d) => {
    log += d;
  });
  const deadline = Date.now() + 90_000;
  for (;;) {
    assert.equal(proc.exitCode, null, `costobs up exited:\n${log.slice(-3000)}`);
    try {
      // ready when the read API answers (not /healthz: it also reports optional dependencies)
      const probe = await fetch(`${base}/v1/usage/summary?from=2026-01-01&to=2026-01-01`, {
        headers: { Authorization: `Bearer ${DEV_KEY}` },
      });
      if (probe.status === 200) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`costobs up did not become ready:\n${log.slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
});

after(async () => {
  if (proc !== null && proc.exitCode === null) {
    const exited = new Promise((resolve) => proc?.once("exit", resolve));
    proc.kill("SIGTERM");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 30_000))]);
    if (proc.exitCode === null) proc.kill("SIGKILL");
  }
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

async function read(path: string): Promise<Record<string, unknown>> {
  const response = await fetch(`${base}${path}`, { headers: { Authorization: `Bearer ${DEV_KEY}` } });
  assert.equal(response.status, 200, await response.clone().text());
  return (await response.json()) as Record<string, unknown>;
}

/** The stored requests of a trace, read until `n` have arrived (or a minute has passed). */
async function requestsOf(trace: string, n: number): Promise<Array<Record<string, unknown>>> {
  let items: Array<Record<string, unknown>> = [];
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    items = (await read(`/v1/requests?trace_id=${trace}&limit=10`)).items as Array<Record<string, unknown>>;
    if (items.length >= n) break;
    await new Promise((r) => setTimeout(r, 300));
  }
  return items;
}

/** The Python SDK's pricing engine on the same usage: the figure to match to the last digit. */
function pythonCost(provider: string, model: string, usage: Record<string, unknown>, at: string): string {
  const code = `import json, sys
from datetime import datetime
from costobs.pricing import load_price_table
from costobs.pricing._dims import fmt
a = json.loads(sys.argv[1])
q = load_price_table().quote(provider=a["provider"], model=a["model"], usage=a["usage"], at=datetime.fromisoformat(a["at"].replace("Z", "+00:00")))
print(fmt(q.cost_usd))`;
  return execFileSync(PYTHON, ["-c", code, JSON.stringify({ provider, model, usage, at })], { encoding: "utf8" }).trim();
}

test("events sent by the TS SDK read back exactly from the real server", { skip, timeout: 180_000 }, async () => {
  const provider = await startProvider({
    "POST /v1/chat/completions": (_req, _raw, res) =>
      json(res, 200, {
        id: "chatcmpl-e2e",
        object: "chat.completion",
        created: 1,
        model: "gpt-4o-2024-08-06",
        choices: [{ index: 0, message: { role: "assistant", content: "hi" }, finish_reason: "stop" }],
        usage: {
          prompt_tokens: 123457,
          completion_tokens: 9871,
          prompt_tokens_details: { cached_tokens: 33333 },
          completion_tokens_details: { reasoning_tokens: 1234 },
        },
      }),
  });
  try {
    configure({ ingestUrl: base, apiKey: DEV_KEY, flushInterval: 0.05, providerHosts: { [`127.0.0.1:${provider.port}`]: "openai" } });
    const trace = `ts-e2e-${Date.now()}`;
    const client = wrap(new OpenAI({ apiKey: "sk-test", baseURL: `${provider.url}/v1`, maxRetries: 0 }), {
      team: "payments",
      environment: "prod",
    });
    await requestContext({ customer_id: "cust-42", trace_id: trace, tags: { pr: "77" } }, async () => {
      await client.chat.completions.create({
        model: "gpt-4o",
        messages: [{ role: "user", content: "hi" }],
        costobs: { feature: "summarize", promptVersion: "v3" },
      } as OpenAI.ChatCompletionCreateParamsNonStreaming);
      // per-minute audio: 12.345 s at $0.006/min has more than 18 places before rounding
      record({ provider: "openai", model: "whisper-1", operation: "audio_transcription", audio_seconds: "12.345", feature: "transcribe" });
      record({
        provider: "anthropic",
        model: "claude-sonnet-4-5",
        usage: { input_tokens: 777, cached_input_tokens: 5555, cache_write_1h_tokens: 2222, output_tokens: 333 },
        feature: "qa",
        prompt_version: "p2",
      });
    });
    assert.equal(await flush(10_000), true);
    assert.equal(stats().droppedTotal, 0);

    const items = await requestsOf(trace, 3);
    assert.equal(items.length, 3, log.slice(-2000));
    const byFeature = Object.fromEntries(items.map((i) => [String(i.feature), i]));

    const chat = byFeature.summarize as Record<string, unknown>;
    assert.equal(chat.provider, "openai");
    assert.equal(chat.model, "gpt-4o-2024-08-06");
    assert.equal(chat.customer_id, "cust-42");
    assert.equal(chat.team, "payments");
    assert.equal(chat.environment, "prod");
    assert.equal(chat.prompt_version, "v3");
    assert.deepEqual(chat.tags, { pr: "77" });
    assert.equal(chat.input_tokens, 123457 - 33333);
    assert.equal(chat.cached_input_tokens, 33333);
    assert.equal(chat.output_tokens, 9871);
    assert.equal(chat.reasoning_tokens, 1234);

    let total = 0n;
    for (const item of items) {
      const usage =
        item.feature === "transcribe"
          ? { audio_seconds: "12.345" }
          : item.feature === "qa"
            ? { input_tokens: 777, cached_input_tokens: 5555, cache_write_1h_tokens: 2222, output_tokens: 333 }
            : { input_tokens: 123457 - 33333, cached_input_tokens: 33333, output_tokens: 9871, reasoning_tokens: 1234 };
      const python = pythonCost(String(item.provider), String(item.model), usage, String(item.timestamp));
      const ours = quote({ provider: String(item.provider), model: String(item.model), usage, at: Date.parse(String(item.timestamp)) });
      assert.equal(ours.costUsd, python, `TS and Python pricing agree for ${item.feature}`);
      assert.equal(item.cost_usd, python, `the stored cost of ${item.feature} is the Python figure`);
      assert.notEqual(python, "0");
      total += BigInt(ours.costAtto);
    }
    assert.equal((byFeature.transcribe as Record<string, unknown>).cost_usd, "0.0012345");

    const day = new Date().toISOString().slice(0, 10);
    const summary = await read(`/v1/usage/summary?from=${day}&to=${day}`);
    assert.equal(summary.requests, 3);
    assert.equal(summary.cost_usd, formatAtto(total), "the day's total is the exact sum");
  } finally {
    await provider.close();
  }
});

const SECRETS = ["PROMPT-SECRET-TS-7731", "COMPLETION-SECRET-TS-4410", "EVENT-BODY-SECRET-TS-9902"];

/** A GenAI inference span as an instrumentation would write it, prompt and completion included. */
function genaiSpan(provider: BasicTracerProvider, name: string, attributes: Record<string, string | number>): ReadableSpan {
  const span = provider.getTracer("genai-instrumentation", "1.4.2").startSpan(name, { kind: SpanKind.CLIENT, attributes });
  span.setAttribute("gen_ai.input.messages", JSON.stringify([{ role: "user", parts: [{ type: "text", content: SECRETS[0] }] }]));
  span.setAttribute("gen_ai.output.messages", JSON.stringify([{ role: "assistant", parts: [{ type: "text", content: SECRETS[1] }] }]));
  span.setAttribute("gen_ai.prompt.0.content", SECRETS[0] as string); // OpenLLMetry's older shape
  span.addEvent("gen_ai.choice", { "gen_ai.completion.0.content": SECRETS[2] as string });
  span.end();
  return span as unknown as ReadableSpan;
}

test("OTLP in: the OpenTelemetry JS exporters' GenAI spans become exact cost events, content dropped", {
  skip,
  timeout: 180_000,
}, async () => {
  const auth = { Authorization: `Bearer ${DEV_KEY}` };
  // JSON over HTTP (exporter-trace-otlp-http), spans captured too so they can be re-exported
  const jsonExporter = new JsonTraceExporter({ url: `${base}/v1/traces`, headers: auth });
  const memory = new InMemorySpanExporter();
  const checkout = new BasicTracerProvider({
    resource: resourceFromAttributes({ "service.name": "checkout", "deployment.environment.name": "prod" }),
    spanProcessors: [new SimpleSpanProcessor(jsonExporter), new SimpleSpanProcessor(memory)],
  });
  // protobuf, gzip (exporter-trace-otlp-proto); the older deployment.environment key
  const search = new BasicTracerProvider({
    resource: resourceFromAttributes({ "service.name": "search", "deployment.environment": "staging" }),
    spanProcessors: [
      new SimpleSpanProcessor(new ProtoTraceExporter({ url: `${base}/v1/traces`, headers: auth, compression: CompressionAlgorithm.GZIP })),
    ],
  });
  const openai = genaiSpan(checkout, "chat gpt-4o", {
    "gen_ai.provider.name": "openai",
    "gen_ai.operation.name": "chat",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.response.model": "gpt-4o-2024-08-06",
    "gen_ai.response.id": "chatcmpl-otel-ts",
    // the convention's counts include cache reads in input and reasoning in output
    "gen_ai.usage.input_tokens": 1200,
    "gen_ai.usage.cache_read.input_tokens": 200,
    "gen_ai.usage.output_tokens": 300,
    "gen_ai.usage.reasoning.output_tokens": 50,
    "app.customer_id": "cust-otel-7",
    "app.pr": "pr-4242",
  });
  const anthropic = genaiSpan(search, "chat claude-sonnet-4-5", {
    "gen_ai.system": "anthropic", // the older provider key
    "gen_ai.operation.name": "chat",
    "gen_ai.request.model": "claude-sonnet-4-5",
    "gen_ai.response.model": "claude-sonnet-4-5-20250929",
    // Anthropic's own counts: input leaves out cache reads and writes
    "gen_ai.usage.input_tokens": 100,
    "gen_ai.usage.cache_read.input_tokens": 5000,
    "gen_ai.usage.cache_creation.input_tokens": 3000,
    "gen_ai.usage.output_tokens": 400,
  });
  const other = checkout.getTracer("http").startSpan("GET /health"); // not a GenAI span: ignored
  other.end();
  await checkout.forceFlush();
  await search.forceFlush();
  // the same spans exported again (an exporter retry) are the same requests
  const again = await new Promise<ExportResult>((resolve) => jsonExporter.export(memory.getFinishedSpans(), resolve));
  assert.equal(again.code, ExportResultCode.SUCCESS, String(again.error));
  await checkout.shutdown();
  await search.shutdown();

  const expected = [
    {
      span: openai,
      provider: "openai",
      model: "gpt-4o-2024-08-06",
      service: "checkout",
      environment: "prod",
      usage: { input_tokens: 1000, cached_input_tokens: 200, output_tokens: 300, reasoning_tokens: 50 },
      cost: "0.00575", // 1000×2.50 + 200×1.25 + 300×10 per 1M
    },
    {
      span: anthropic,
      provider: "anthropic",
      model: "claude-sonnet-4-5-20250929",
      service: "search",
      environment: "staging",
      usage: { input_tokens: 100, cached_input_tokens: 5000, cache_write_5m_tokens: 3000, output_tokens: 400 },
      cost: "0.01905", // 100×3 + 5000×0.30 + 3000×3.75 + 400×15 per 1M
    },
  ];
  for (const want of expected) {
    const { traceId, spanId } = want.span.spanContext();
    const items = await requestsOf(traceId, 1);
    assert.equal(items.length, 1, `one event for span ${spanId}, exported twice\n${log.slice(-2000)}`);
    const item = items[0] as Record<string, unknown>;
    assert.equal(item.request_id, `otel-${traceId}-${spanId}`);
    const detail = await read(`/v1/requests/${item.request_id}`);
    assert.equal(detail.provider, want.provider);
    assert.equal(detail.model, want.model);
    assert.equal(detail.service, want.service);
    assert.equal(detail.environment, want.environment);
    for (const [field, count] of Object.entries(want.usage)) assert.equal(detail[field], count, `${want.provider} ${field}`);
    const python = pythonCost(want.provider, want.model, want.usage, String(item.timestamp));
    assert.equal(python, want.cost);
    assert.equal(quote({ provider: want.provider, model: want.model, usage: want.usage }).costUsd, want.cost);
    assert.equal(detail.cost_usd, want.cost, "priced by the writer, exactly");
    const stored = JSON.stringify(detail);
    for (const secret of SECRETS) assert.ok(!stored.includes(secret), `${secret} is never stored`);
  }
  const first = await read(`/v1/requests/otel-${openai.spanContext().traceId}-${openai.spanContext().spanId}`);
  // configured attribute keys: a first-class field and a tag (the stored text the secrets are checked against)
  assert.equal(first.customer_id, "cust-otel-7");
  assert.deepEqual(first.tags, { pr: "pr-4242" });
  const otherItems = (await read(`/v1/requests?trace_id=${other.spanContext().traceId}&limit=10`)).items as unknown[];
  assert.deepEqual(otherItems, [], "a span without GenAI attributes is ignored");
  const metrics = await (await fetch(`${base}/metrics`)).text();
  assert.match(metrics, /costobs_otlp_spans_total\{outcome="ignored"\} [1-9]/);
  assert.match(metrics, /costobs_otlp_spans_total\{outcome="duplicate"\} [1-9]/);
});
