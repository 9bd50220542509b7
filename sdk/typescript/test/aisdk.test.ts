import assert from "node:assert/strict";
import { test } from "node:test";
import { createAnthropic } from "@ai-sdk/anthropic";
import { createOpenAI } from "@ai-sdk/openai";
import { embed, generateObject, generateText, jsonSchema, streamText, wrapEmbeddingModel, wrapLanguageModel } from "ai";
import { costobsMiddleware, requestContext, trackGenerateText, trackStreamText } from "../src/index.node.js";
import { internalErrors, json, servers, sse } from "./helpers.js";

const OPENAI_USAGE = {
  prompt_tokens: 1200,
  completion_tokens: 300,
  total_tokens: 1500,
  prompt_tokens_details: { cached_tokens: 200 },
  completion_tokens_details: { reasoning_tokens: 50 },
};
const ANTHROPIC_USAGE = {
  input_tokens: 100,
  cache_creation_input_tokens: 3000,
  cache_read_input_tokens: 5000,
  cache_creation: { ephemeral_5m_input_tokens: 1000, ephemeral_1h_input_tokens: 2000 },
  output_tokens: 400,
};
const CLAUDE = "claude-sonnet-4-5-20250929";

let cut: number | undefined;
let stall = false;

function anthropicEvents() {
  const message = { id: "msg_1", type: "message", role: "assistant", model: CLAUDE, content: [], stop_reason: null, stop_sequence: null };
  return [
    { event: "message_start", data: { type: "message_start", message: { ...message, usage: { ...ANTHROPIC_USAGE, output_tokens: 1 } } } },
    { event: "content_block_start", data: { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } } },
    { event: "content_block_delta", data: { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "Hello" } } },
    { event: "content_block_stop", data: { type: "content_block_stop", index: 0 } },
    {
      event: "message_delta",
      data: { type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: 400 } },
    },
    { event: "message_stop", data: { type: "message_stop" } },
  ];
}

const srv = servers(
  {
    "POST /v1/chat/completions": async (_req, raw, res) => {
      const body = JSON.parse(raw.toString());
      if (body.model === "broken") return json(res, 400, { error: { message: "bad model", type: "invalid_request_error" } });
      const base = { id: "chatcmpl-9", created: 1, model: "gpt-4o-2024-08-06" };
      if (!body.stream) {
        return json(res, 200, {
          ...base,
          object: "chat.completion",
          choices: [{ index: 0, message: { role: "assistant", content: "hi" }, finish_reason: "stop" }],
          usage: OPENAI_USAGE,
        });
      }
      const chunk = { ...base, object: "chat.completion.chunk" };
      await sse(
        res,
        [
          { data: { ...chunk, choices: [{ index: 0, delta: { role: "assistant", content: "Hel" } }] } },
          { data: { ...chunk, choices: [{ index: 0, delta: { content: "lo" }, finish_reason: "stop" }] } },
          { data: { ...chunk, choices: [], usage: OPENAI_USAGE } },
        ],
        { done: true, cutAfter: cut },
      );
    },
    "POST /v1/embeddings": (_req, _raw, res) =>
      json(res, 200, {
        object: "list",
        model: "text-embedding-3-small",
        data: [{ object: "embedding", index: 0, embedding: [0.1, 0.2] }],
        usage: { prompt_tokens: 42, total_tokens: 42 },
      }),
    "POST /v1/messages": async (_req, raw, res) => {
      const body = JSON.parse(raw.toString());
      if (!body.stream) {
        return json(res, 200, {
          id: "msg_1",
          type: "message",
          role: "assistant",
          model: CLAUDE,
          content: [{ type: "text", text: "hi" }],
          stop_reason: "end_turn",
          stop_sequence: null,
          usage: ANTHROPIC_USAGE,
        });
      }
      if (stall) {
        // generation started, then nothing more: the connection is held open
        res.writeHead(200, { "Content-Type": "text/event-stream" });
        for (const e of anthropicEvents().slice(0, 3)) res.write(`event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`);
        return;
      }
      await sse(res, anthropicEvents(), { cutAfter: cut });
    },
  },
  {
    reset: () => {
      cut = undefined;
      stall = false;
    },
  },
);
const events = srv.events;

const openai = () => createOpenAI({ baseURL: `${srv.provider.url}/v1`, apiKey: "sk-test" });
const anthropic = () => createAnthropic({ baseURL: `${srv.provider.url}/v1`, apiKey: "sk-ant" });
const OPENAI_EXPECTED = { input_tokens: 1000, cached_input_tokens: 200, output_tokens: 300, reasoning_tokens: 50 };
const ANTHROPIC_EXPECTED = {
  input_tokens: 100,
  cached_input_tokens: 5000,
  cache_write_5m_tokens: 1000,
  cache_write_1h_tokens: 2000,
  output_tokens: 400,
};

test("trackGenerateText (the docs' example): provider usage exact, metadata as written", async () => {
  const result = await trackGenerateText(generateText({ model: openai().chat("gpt-4o"), prompt: "hi" }), {
    feature: "summarize",
    customer_id: "cust-42",
  });
  assert.equal(result.text, "hi");
  const [event] = await events(1);
  assert.equal(event?.provider, "openai");
  assert.equal(event?.model, "gpt-4o-2024-08-06");
  assert.equal(event?.feature, "summarize");
  assert.equal(event?.customer_id, "cust-42");
  assert.deepEqual(event?.usage, OPENAI_EXPECTED);
  assert.deepEqual(internalErrors, []);
});

test("trackStreamText: recorded when the caller has read the stream", async () => {
  const result = trackStreamText(streamText({ model: anthropic()(CLAUDE), prompt: "hi" }), { feature: "chat" });
  let text = "";
  for await (const delta of result.textStream) text += delta;
  assert.equal(text, "Hello");
  const [event] = await events(1);
  assert.equal(event?.provider, "anthropic");
  assert.equal(event?.streaming, true);
  assert.equal(event?.feature, "chat");
  assert.deepEqual(event?.usage, ANTHROPIC_EXPECTED);
});

test("trackGenerateText: the provider's error reaches the caller unchanged", async () => {
  const error = await trackGenerateText(generateText({ model: openai().chat("broken"), prompt: "hi", maxRetries: 0 }), {
    feature: "x",
  }).catch((e: unknown) => e);
  assert.equal((error as Error).name, "AI_APICallError");
  assert.equal((error as { statusCode?: number }).statusCode, 400);
  const [event] = await events(1);
  assert.equal(event?.status, "error");
});

test("costobsMiddleware: generateText and streamText through a wrapped model, scope metadata layered", async () => {
  const model = wrapLanguageModel({ model: anthropic()(CLAUDE), middleware: costobsMiddleware({ feature: "mw", team: "ai" }) });
  await requestContext({ customerId: "c-mw", feature: "scoped" }, async () => {
    await generateText({ model, prompt: "hi" });
    const stream = streamText({ model, prompt: "hi" });
    for await (const _ of stream.textStream) {
      // consume
    }
  });
  const evs = await events(2);
  for (const event of evs) {
    assert.equal(event.provider, "anthropic");
    assert.equal(event.model, CLAUDE);
    assert.equal(event.team, "ai");
    assert.equal(event.feature, "scoped", "the request scope wins over middleware defaults");
    assert.equal(event.customer_id, "c-mw");
    assert.deepEqual(event.usage, ANTHROPIC_EXPECTED);
  }
  assert.deepEqual(evs.map((e) => e.streaming).sort(), [false, true]);
});

test("costobsMiddleware: an OpenAI stream cut off midway is recorded as an error", async () => {
  cut = 1;
  const model = wrapLanguageModel({ model: openai().chat("gpt-4o"), middleware: costobsMiddleware() });
  const stream = streamText({ model, prompt: "hi", onError: () => undefined });
  let text = "";
  const error = await (async () => {
    for await (const delta of stream.textStream) text += delta;
  })().catch((e: unknown) => e);
  assert.equal(text, "Hel");
  assert.ok(error instanceof Error, "the caller sees the AI SDK's own error");
  const [event] = await events(1);
  assert.equal(event?.status, "error");
  assert.equal(event?.streaming, true);
});

test("costobsMiddleware: a stream stopped by the caller's AbortSignal.timeout() is a timeout", async () => {
  stall = true;
  const model = wrapLanguageModel({ model: anthropic().messages(CLAUDE), middleware: costobsMiddleware() });
  const stream = streamText({ model, prompt: "hi", abortSignal: AbortSignal.timeout(300), onError: () => undefined });
  let text = "";
  await (async () => {
    for await (const delta of stream.textStream) text += delta;
  })().catch(() => undefined);
  assert.equal(text, "Hello");
  const [event] = await events(1);
  assert.equal(event?.status, "timeout");
  assert.equal(event?.streaming, true);
});

test("costobsMiddleware: generateObject and embed through wrapped models", async () => {
  const middleware = costobsMiddleware({ feature: "objects" });
  const model = wrapLanguageModel({ model: anthropic()(CLAUDE), middleware });
  const embedder = wrapEmbeddingModel({ model: openai().embedding("text-embedding-3-small"), middleware });
  const schema = jsonSchema<{ text: string }>({ type: "object", properties: { text: { type: "string" } }, required: ["text"] });
  const object = await generateObject({ model, schema, prompt: "hi" }).catch((e: unknown) => e);
  const embedded = await embed({ model: embedder, value: "hello" });
  assert.deepEqual(embedded.embedding, [0.1, 0.2]);
  const evs = await events(2);
  const chat = evs.find((e) => e.operation === "chat");
  const emb = evs.find((e) => e.operation === "embedding");
  assert.ok(chat, `generateObject recorded (${String(object)})`);
  assert.deepEqual(chat.usage, ANTHROPIC_EXPECTED);
  assert.equal(emb?.provider, "openai");
  assert.equal(emb?.model, "text-embedding-3-small");
  assert.deepEqual(emb?.usage, { input_tokens: 42 });
  assert.equal(emb?.feature, "objects");
});
