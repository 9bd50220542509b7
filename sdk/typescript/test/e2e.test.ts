/**
 * End to end against the REAL server: `costobs up` (embedded NATS, writer, chDB) from the Python
 * side on a free port. Events sent by this SDK are read back exactly from the read API, with the
 * cost equal to the last digit to what the Python SDK's pricing engine gives for the same usage.
 */

import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
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
    env: { ...env, COSTOBS_ALERTD_PORT: "0", COSTOBS_BILLSYNCD_PORT: "0" },
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

    let items: Array<Record<string, unknown>> = [];
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      items = (await read(`/v1/requests?trace_id=${trace}&limit=10`)).items as Array<Record<string, unknown>>;
      if (items.length >= 3) break;
      await new Promise((r) => setTimeout(r, 300));
    }
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
