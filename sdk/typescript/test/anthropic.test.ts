import assert from "node:assert/strict";
import { test } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import { quote, requestContext, wrap } from "../src/index.node.js";
import { internalErrors, json, servers, sse } from "./helpers.js";

const MODEL = "claude-sonnet-4-5-20250929";
const USAGE = {
  input_tokens: 100,
  cache_creation_input_tokens: 3000,
  cache_read_input_tokens: 5000,
  cache_creation: { ephemeral_5m_input_tokens: 1000, ephemeral_1h_input_tokens: 2000 },
  output_tokens: 400,
  service_tier: "standard",
};

function message() {
  return {
    id: "msg_1",
    type: "message",
    role: "assistant",
    model: MODEL,
    content: [{ type: "text", text: "hi" }],
    stop_reason: "end_turn",
    stop_sequence: null,
    usage: USAGE,
  };
}

function streamEvents() {
  return [
    {
      event: "message_start",
      data: {
        type: "message_start",
        message: { ...message(), content: [], stop_reason: null, usage: { ...USAGE, output_tokens: 1 } },
      },
    },
    {
      event: "content_block_start",
      data: { type: "content_block_start", index: 0, content_block: { type: "thinking", thinking: "", signature: "" } },
    },
    { event: "content_block_delta", data: { type: "content_block_delta", index: 0, delta: { type: "thinking_delta", thinking: "hmm" } } },
    { event: "content_block_stop", data: { type: "content_block_stop", index: 0 } },
    { event: "content_block_start", data: { type: "content_block_start", index: 1, content_block: { type: "text", text: "" } } },
    { event: "content_block_delta", data: { type: "content_block_delta", index: 1, delta: { type: "text_delta", text: "Hello" } } },
    { event: "content_block_stop", data: { type: "content_block_stop", index: 1 } },
    // cumulative: the latest value counts, never the sum
    {
      event: "message_delta",
      data: { type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: 200 } },
    },
    {
      event: "message_delta",
      data: { type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: 400 } },
    },
    { event: "message_stop", data: { type: "message_stop" } },
  ];
}

let client: Anthropic;
let cut: number | undefined;

const srv = servers(
  {
    "POST /v1/messages": async (_req, raw, res) => {
      const body = JSON.parse(raw.toString());
      if (body.model === "overloaded") {
        return json(res, 529, { type: "error", error: { type: "overloaded_error", message: "Overloaded" } });
      }
      if (!body.stream) return json(res, 200, message());
      await sse(res, streamEvents(), { cutAfter: cut });
    },
  },
  {
    ready: (url) => {
      client = wrap(new Anthropic({ apiKey: "sk-ant-test", baseURL: url, maxRetries: 0 }), { team: "search" });
    },
    reset: () => {
      cut = undefined;
    },
  },
);
const events = srv.events;

const EXPECTED = {
  input_tokens: 100,
  cached_input_tokens: 5000,
  cache_write_5m_tokens: 1000,
  cache_write_1h_tokens: 2000,
  output_tokens: 400,
};

test("messages.create: cache reads and both write TTLs, exact cost, costobs removed", async () => {
  await requestContext({ customer_id: "cust-7" }, () =>
    client.messages.create({
      model: "claude-sonnet-4-5",
      max_tokens: 10,
      messages: [{ role: "user", content: "hi" }],
      costobs: { feature: "qa", prompt_version: "p1" },
    } as Anthropic.MessageCreateParamsNonStreaming),
  );
  const [event] = await events(1);
  assert.equal(srv.provider.requests[0]?.body?.costobs, undefined);
  assert.equal(event?.provider, "anthropic");
  assert.equal(event?.model, MODEL);
  assert.deepEqual(event?.usage, EXPECTED);
  assert.equal(event?.customer_id, "cust-7");
  assert.equal(event?.feature, "qa");
  assert.equal(event?.prompt_version, "p1");
  assert.equal(event?.team, "search");
  const expected = quote({
    provider: "anthropic",
    model: MODEL,
    usage: EXPECTED,
    at: Date.parse(String(event?.timestamp)),
    serviceTier: "standard",
  });
  assert.equal(event?.cost_usd, expected.costUsd);
  assert.notEqual(expected.costUsd, "0");
  assert.deepEqual(internalErrors, []);
});

test("stream: true — latest cumulative usage, never summed", async () => {
  const stream = await client.messages.create({ model: MODEL, max_tokens: 10, messages: [], stream: true });
  let n = 0;
  for await (const _ of stream) n++;
  assert.equal(n, 10);
  const [event] = await events(1);
  assert.equal(event?.streaming, true);
  assert.deepEqual(event?.usage, EXPECTED);
  assert.equal(event?.provider_request_id, "msg_1");
});

test("messages.stream() is observed, with per-call metadata", async () => {
  const stream = client.messages.stream({
    model: MODEL,
    max_tokens: 10,
    messages: [],
    costobs: { feature: "stream-helper" },
  } as Anthropic.MessageStreamParams);
  const final = await stream.finalMessage();
  assert.equal(final.usage.output_tokens, 400);
  const [event] = await events(1);
  assert.equal(srv.provider.requests[0]?.body?.costobs, undefined);
  assert.equal(event?.feature, "stream-helper");
  assert.deepEqual(event?.usage, EXPECTED);
});

test("stream cut off midway: usage seen so far, status error", async () => {
  cut = 3;
  const stream = await client.messages.create({ model: MODEL, max_tokens: 10, messages: [], stream: true });
  await assert.rejects(async () => {
    for await (const _ of stream) {
      // consume
    }
  });
  const [event] = await events(1);
  assert.equal(event?.status, "error");
  // message_start carried the input and cache counts (and 1 output token so far)
  assert.deepEqual(event?.usage, { ...EXPECTED, output_tokens: 1 });
});

test("provider errors reach the caller unchanged", async () => {
  const error = await client.messages.create({ model: "overloaded", max_tokens: 1, messages: [] }).catch((e: unknown) => e);
  assert.ok(error instanceof Anthropic.APIError);
  assert.equal((error as InstanceType<typeof Anthropic.APIError>).status, 529);
  const [event] = await events(1);
  assert.equal(event?.status, "error");
  assert.match(String(event?.error_type), /:529$/);
});
