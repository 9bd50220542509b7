import assert from "node:assert/strict";
import { test } from "node:test";
import { BedrockRuntime, BedrockRuntimeClient, ConverseCommand, ConverseStreamCommand } from "@aws-sdk/client-bedrock-runtime";
import { GoogleGenAI } from "@google/genai";
import { EventStreamCodec } from "@smithy/eventstream-codec";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { quote, requestContext, wrap } from "../src/index.node.js";
import { internalErrors, json, servers, sse } from "./helpers.js";

const GEMINI_USAGE = {
  promptTokenCount: 1500,
  cachedContentTokenCount: 500,
  candidatesTokenCount: 200,
  thoughtsTokenCount: 100,
  totalTokenCount: 1800,
};
function geminiResponse(text: string, usage?: object) {
  return {
    candidates: [{ content: { parts: [{ text }], role: "model" }, finishReason: "STOP", index: 0 }],
    ...(usage ? { usageMetadata: usage } : {}),
    modelVersion: "gemini-2.5-pro",
    responseId: "resp-g1",
  };
}

const BEDROCK_USAGE = { inputTokens: 100, outputTokens: 50, totalTokens: 2150, cacheReadInputTokens: 1000, cacheWriteInputTokens: 1000 };
const codec = new EventStreamCodec(
  (bytes: Uint8Array) => Buffer.from(bytes).toString("utf8"),
  (text: string) => new Uint8Array(Buffer.from(text, "utf8")),
);
function frame(type: string, body: unknown): Uint8Array {
  return codec.encode({
    headers: {
      ":event-type": { type: "string", value: type },
      ":content-type": { type: "string", value: "application/json" },
      ":message-type": { type: "string", value: "event" },
    },
    body: new Uint8Array(Buffer.from(JSON.stringify(body))),
  });
}

let cut = false;

const srv = servers(
  {
    "POST /v1/models/gemini-2.5-pro:generateContent": (_req, _raw, res) => json(res, 200, geminiResponse("hi", GEMINI_USAGE)),
    "POST /v1/models/gemini-slow:generateContent": () => undefined, // never answers
    "POST /v1/models/gemini-bad:generateContent": (_req, _raw, res) =>
      json(res, 400, { error: { code: 400, message: "bad request", status: "INVALID_ARGUMENT" } }),
    "POST /v1/models/gemini-2.5-pro:streamGenerateContent": async (_req, _raw, res) => {
      await sse(res, [
        { data: geminiResponse("Hel", { promptTokenCount: 1500, cachedContentTokenCount: 500 }) },
        { data: geminiResponse("lo") },
        { data: geminiResponse("!", GEMINI_USAGE) },
      ]);
    },
    "POST /model/*": async (req, _raw, res) => {
      const path = decodeURIComponent(req.url ?? "");
      if (path.endsWith("/converse")) {
        return json(res, 200, {
          output: { message: { role: "assistant", content: [{ text: "hi" }] } },
          stopReason: "end_turn",
          usage: BEDROCK_USAGE,
          metrics: { latencyMs: 10 },
        });
      }
      res.writeHead(200, { "Content-Type": "application/vnd.amazon.eventstream" });
      res.write(frame("messageStart", { role: "assistant" }));
      res.write(frame("contentBlockDelta", { contentBlockIndex: 0, delta: { text: "Hel" } }));
      if (cut) {
        await new Promise((r) => setTimeout(r, 5));
        res.destroy();
        return;
      }
      res.write(frame("contentBlockStop", { contentBlockIndex: 0 }));
      res.write(frame("messageStop", { stopReason: "end_turn" }));
      res.write(frame("metadata", { usage: BEDROCK_USAGE, metrics: { latencyMs: 12 } }));
      res.end();
    },
  },
  {
    reset: () => {
      cut = false;
    },
  },
);
const events = srv.events;

const GEMINI_EXPECTED = { input_tokens: 1000, cached_input_tokens: 500, output_tokens: 300, reasoning_tokens: 100 };

test("gemini generateContent: thoughts are output and reasoning, cached reads apart", async () => {
  const ai = wrap(new GoogleGenAI({ apiKey: "g-test", httpOptions: { baseUrl: srv.provider.url } }), { team: "g" });
  const response = await requestContext({ customer_id: "c-g" }, () =>
    ai.models.generateContent({ model: "gemini-2.5-pro", contents: "hi", costobs: { feature: "gem" } } as never),
  );
  assert.equal((response as { text?: string }).text, "hi");
  const [event] = await events(1);
  const sent = srv.provider.requests.find((r) => r.path.includes("generateContent"));
  assert.equal(sent?.body?.costobs, undefined);
  assert.equal(event?.provider, "gemini");
  assert.equal(event?.model, "gemini-2.5-pro");
  assert.deepEqual(event?.usage, GEMINI_EXPECTED);
  assert.equal(event?.feature, "gem");
  assert.equal(event?.customer_id, "c-g");
  assert.equal(event?.cost_usd, quote({ provider: "gemini", model: "gemini-2.5-pro", usage: GEMINI_EXPECTED }).costUsd);
  assert.deepEqual(internalErrors, []);
});

test("gemini stream: the last chunk's usage counts", async () => {
  const ai = wrap(new GoogleGenAI({ apiKey: "g-test", httpOptions: { baseUrl: srv.provider.url } }));
  const stream = await ai.models.generateContentStream({ model: "gemini-2.5-pro", contents: "hi" });
  let text = "";
  for await (const chunk of stream) text += chunk.text ?? "";
  assert.equal(text, "Hello!");
  const [event] = await events(1);
  assert.equal(event?.streaming, true);
  assert.deepEqual(event?.usage, GEMINI_EXPECTED);
});

test("gemini errors reach the caller unchanged", async () => {
  const ai = wrap(new GoogleGenAI({ apiKey: "g-test", httpOptions: { baseUrl: srv.provider.url } }));
  const error = await ai.models.generateContent({ model: "gemini-bad", contents: "x" }).catch((e: unknown) => e);
  assert.equal((error as { status?: number }).status, 400);
  assert.equal((error as Error).name, "ApiError");
  const [event] = await events(1);
  assert.equal(event?.status, "error");
});

test("gemini: its own httpOptions.timeout is a timeout, the caller's abortSignal a cancellation", async () => {
  const ai = wrap(new GoogleGenAI({ apiKey: "g-test", httpOptions: { baseUrl: srv.provider.url, timeout: 300 } }));
  const timedOut = await ai.models.generateContent({ model: "gemini-slow", contents: "x" }).catch((e: unknown) => e);
  assert.equal((timedOut as Error).name, "AbortError", "the client's own error, untouched");
  const controller = new AbortController();
  const cancelled = ai.models.generateContent({ model: "gemini-slow", contents: "x", config: { abortSignal: controller.signal } });
  setTimeout(() => controller.abort(), 50);
  await cancelled.catch(() => undefined);
  const evs = await events(2);
  assert.deepEqual(evs.map((e) => e.status).sort(), ["cancelled", "timeout"]);
});

function bedrock() {
  return new BedrockRuntimeClient({
    region: "us-east-1",
    endpoint: srv.provider.url,
    credentials: { accessKeyId: "AKIDTEST", secretAccessKey: "secret" },
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler(), // HTTP/1.1 to the fake (the default speaks HTTP/2)
  });
}

const BEDROCK_EXPECTED = { input_tokens: 100, cached_input_tokens: 1000, cache_write_5m_tokens: 1000, output_tokens: 50 };
const CLAUDE = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";

test("bedrock Converse: inputTokens is uncached input; geo prefix becomes the region", async () => {
  const client = wrap(bedrock(), { team: "b" });
  const command = new ConverseCommand({
    modelId: CLAUDE,
    messages: [{ role: "user", content: [{ text: "hi" }] }],
    costobs: { feature: "bed" },
  } as never);
  const out = await client.send(command);
  assert.equal(out.usage?.inputTokens, 100);
  assert.equal((command.input as { costobs?: unknown }).costobs !== undefined, true, "the caller's command is untouched");
  const [event] = await events(1);
  const sent = srv.provider.requests.find((r) => r.path.includes("/converse"));
  assert.equal(sent?.body?.costobs, undefined, "the provider never sees costobs");
  assert.equal(event?.provider, "bedrock");
  assert.equal(event?.model, "anthropic.claude-sonnet-4-5-20250929-v1:0");
  assert.equal(event?.region, "us");
  assert.equal(event?.feature, "bed");
  assert.deepEqual(event?.usage, BEDROCK_EXPECTED);
  const expected = quote({ provider: "bedrock", model: String(event?.model), usage: BEDROCK_EXPECTED, region: "us" });
  assert.equal(event?.cost_usd, expected.costUsd);
  assert.notEqual(expected.costUsd, "0");
});

test("bedrock ConverseStream: usage from the metadata event (real event-stream frames)", async () => {
  const client = wrap(
    new BedrockRuntime({
      region: "eu-west-1",
      endpoint: srv.provider.url,
      credentials: { accessKeyId: "AKIDTEST", secretAccessKey: "secret" },
      maxAttempts: 1,
      requestHandler: new NodeHttpHandler(), // HTTP/1.1 to the fake (the default speaks HTTP/2)
    }),
  );
  const out = await client.converseStream({ modelId: "anthropic.claude-sonnet-4-5-20250929-v1:0", messages: [] });
  let text = "";
  for await (const part of out.stream ?? []) text += part.contentBlockDelta?.delta?.text ?? "";
  assert.equal(text, "Hel");
  const [event] = await events(1);
  assert.equal(event?.streaming, true);
  assert.deepEqual(event?.usage, BEDROCK_EXPECTED);
});

test("bedrock ConverseStream left early (break): cancelled, with the canonical model of the vendor", async () => {
  const client = wrap(bedrock());
  const out = await client.send(new ConverseStreamCommand({ modelId: CLAUDE, messages: [] }));
  for await (const _ of out.stream ?? []) break;
  const [event] = await events(1);
  assert.deepEqual([event?.status, event?.streaming, event?.usage], ["cancelled", true, {}]);
  assert.deepEqual([event?.provider, event?.canonical_model], ["bedrock", "claude-sonnet-4-5"]);
});

test("bedrock ConverseStream cut off midway: error event, the caller gets the error", async () => {
  cut = true;
  const client = wrap(bedrock());
  const out = await client.send(new ConverseStreamCommand({ modelId: CLAUDE, messages: [] }));
  await assert.rejects(async () => {
    for await (const _ of out.stream ?? []) {
      // consume
    }
  });
  const [event] = await events(1);
  assert.equal(event?.status, "error");
  assert.deepEqual(event?.usage, {});
});
