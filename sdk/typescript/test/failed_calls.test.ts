/**
 * Failed and cut-off calls the provider bills: recorded with the usage known and a status saying
 * which (error, timeout, cancelled). The scenarios of sdk/python/tests/test_failed_calls.py with
 * the real `@anthropic-ai/sdk` and `openai` packages, loopback fakes for the providers.
 */

import assert from "node:assert/strict";
import type { ServerResponse } from "node:http";
import { test } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { record, wrap } from "../src/index.node.js";
import { statusOf } from "../src/observe.js";
import { internalErrors, servers } from "./helpers.js";

const MODEL = "claude-sonnet-4-5-20250929";
const START_USAGE = {
  input_tokens: 50,
  cache_read_input_tokens: 7000,
  cache_creation_input_tokens: 3000,
  cache_creation: { ephemeral_5m_input_tokens: 1000, ephemeral_1h_input_tokens: 2000 },
  output_tokens: 1,
};
/** What message_start reported before the call was cut off. */
const KNOWN_AT_START = {
  input_tokens: 50,
  cached_input_tokens: 7000,
  cache_write_5m_tokens: 1000,
  cache_write_1h_tokens: 2000,
  output_tokens: 1,
};

function frame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify({ type: event, ...(data as object) })}\n\n`;
}

/** The first frames of an Anthropic stream: generation has started (input billed). */
const STARTED = [
  frame("message_start", {
    message: { id: "msg_f", type: "message", role: "assistant", model: MODEL, content: [], stop_reason: null, usage: START_USAGE },
  }),
  frame("content_block_start", { index: 0, content_block: { type: "text", text: "" } }),
  frame("content_block_delta", { index: 0, delta: { type: "text_delta", text: "Hel" } }),
  frame("content_block_delta", { index: 0, delta: { type: "text_delta", text: "lo" } }),
];
const FINISHED = [
  frame("content_block_stop", { index: 0 }),
  frame("message_delta", { delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: 9 } }),
  frame("message_stop", {}),
];

const CHAT_CHUNK = (content: string) =>
  `data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", created: 1, model: "gpt-4o", choices: [{ index: 0, delta: { content } }] })}\n\n`;

/** How the fake answers: frames, then either the rest or a stall (the connection held open). */
let plan: { frames: string[]; stall: boolean } = { frames: [...STARTED, ...FINISHED], stall: false };
const stalled: ServerResponse[] = [];

function stream(res: ServerResponse): void {
  res.writeHead(200, { "Content-Type": "text/event-stream" });
  for (const f of plan.frames) res.write(f);
  if (plan.stall) stalled.push(res);
  else res.end();
}

const srv = servers(
  {
    "POST /v1/messages": (_req, _raw, res) => stream(res),
    "POST /v1/chat/completions": (_req, raw, res) => {
      if (JSON.parse(raw.toString()).model === "slow") {
        stalled.push(res); // no answer at all
        return;
      }
      stream(res);
    },
  },
  {
    reset: () => {
      plan = { frames: [...STARTED, ...FINISHED], stall: false };
      for (const res of stalled.splice(0)) res.destroy();
    },
  },
);
const events = srv.events;

function anthropic(): Anthropic {
  return wrap(new Anthropic({ apiKey: "sk-ant-test", baseURL: srv.provider.url, maxRetries: 0 }));
}

function openai(): OpenAI {
  return wrap(new OpenAI({ apiKey: "sk-test", baseURL: `${srv.provider.url}/v1`, maxRetries: 0 }));
}

test("statusOf names timeouts, cancellations and errors", () => {
  assert.equal(statusOf(new OpenAI.APIConnectionTimeoutError()), "timeout");
  assert.equal(statusOf(new Anthropic.APIConnectionTimeoutError()), "timeout");
  assert.equal(statusOf(new DOMException("signal timed out", "TimeoutError")), "timeout");
  assert.equal(statusOf(new OpenAI.APIUserAbortError()), "cancelled");
  const timedOut = new OpenAI.APIUserAbortError();
  Object.defineProperty(timedOut, "cause", { value: new DOMException("signal timed out", "TimeoutError") });
  assert.equal(statusOf(timedOut), "timeout", "a caller's AbortSignal.timeout() is a timeout");
  assert.equal(statusOf(new DOMException("aborted", "AbortError")), "cancelled");
  assert.equal(statusOf(new OpenAI.APIConnectionError({ message: "refused" })), "error");
  assert.equal(statusOf(new Error("boom")), "error");
});

test("a provider error mid-stream keeps the usage it reported", async () => {
  plan = {
    frames: [
      ...STARTED.slice(0, 3),
      `event: error\ndata: ${JSON.stringify({ type: "error", error: { type: "overloaded_error", message: "Overloaded" } })}\n\n`,
    ],
    stall: false,
  };
  const s = await anthropic().messages.create({ model: "claude-sonnet-4-5", max_tokens: 10, messages: [], stream: true });
  await assert.rejects(async () => {
    for await (const _ of s) {
      // consume
    }
  }, Anthropic.APIError);
  const [event] = await events(1);
  assert.deepEqual([event?.status, event?.streaming], ["error", true]);
  assert.deepEqual(event?.usage, KNOWN_AT_START);
  assert.notEqual(event?.cost_usd, "0", "the input the provider bills is not lost");
});

test("a stream timing out (the caller's AbortSignal.timeout) after generation started: timeout, usage known", async () => {
  plan = { frames: STARTED, stall: true };
  const s = await anthropic().messages.create(
    { model: "claude-sonnet-4-5", max_tokens: 10, messages: [], stream: true },
    { signal: AbortSignal.timeout(300) },
  );
  let seen = 0;
  // the client ends an aborted stream quietly; whatever it does reaches the caller untouched
  await (async () => {
    for await (const _ of s) seen++;
  })().catch(() => undefined);
  assert.equal(seen, 4);
  const [event] = await events(1);
  assert.equal(event?.status, "timeout");
  assert.deepEqual(event?.usage, KNOWN_AT_START);
  assert.equal(typeof event?.time_to_first_token_ms, "number");
  assert.notEqual(event?.cost_usd, "0");
});

test("the caller aborting a stream after generation started: cancelled, usage known", async () => {
  plan = { frames: STARTED, stall: true };
  const controller = new AbortController();
  const s = await anthropic().messages.create(
    { model: "claude-sonnet-4-5", max_tokens: 10, messages: [], stream: true },
    { signal: controller.signal },
  );
  let seen = 0;
  await (async () => {
    for await (const _ of s) {
      seen++;
      if (seen === 4) controller.abort();
    }
  })().catch(() => undefined);
  const [event] = await events(1);
  assert.equal(event?.status, "cancelled");
  assert.deepEqual(event?.usage, KNOWN_AT_START);
});

test("the caller leaving a stream early (break) after generation started: cancelled, usage known", async () => {
  const s = await anthropic().messages.create({ model: "claude-sonnet-4-5", max_tokens: 10, messages: [], stream: true });
  let index = 0;
  for await (const _ of s) {
    if (index++ === 2) break;
  }
  const [event] = await events(1);
  assert.equal(event?.status, "cancelled");
  assert.deepEqual(event?.usage, KNOWN_AT_START);
});

test("a finished stream stays ok (the quiet end of an aborted one is told apart)", async () => {
  const s = await anthropic().messages.create({ model: "claude-sonnet-4-5", max_tokens: 10, messages: [], stream: true });
  for await (const _ of s) {
    // consume
  }
  const [event] = await events(1);
  assert.equal(event?.status, "ok");
  assert.equal(event?.usage.output_tokens, 9);
  assert.deepEqual(internalErrors, []);
});

test("an OpenAI stream timing out midway is a timeout", async () => {
  plan = { frames: [CHAT_CHUNK("Hel"), CHAT_CHUNK("lo")], stall: true };
  const s = await openai().chat.completions.create({ model: "gpt-4o", messages: [], stream: true }, { signal: AbortSignal.timeout(300) });
  let seen = 0;
  await (async () => {
    for await (const _ of s) seen++;
  })().catch(() => undefined);
  assert.equal(seen, 2);
  const [event] = await events(1);
  assert.deepEqual([event?.status, event?.streaming], ["timeout", true]);
});

test("a request timing out before any answer", async () => {
  const error = await openai()
    .chat.completions.create({ model: "slow", messages: [] }, { timeout: 300 })
    .catch((e: unknown) => e);
  assert.ok(error instanceof OpenAI.APIConnectionTimeoutError);
  const [event] = await events(1);
  assert.deepEqual([event?.status, event?.error_type, event?.usage], ["timeout", "APIConnectionTimeoutError", {}]);
});

test("record() can say a call timed out; an unknown status is an error", async () => {
  record({ provider: "anthropic", model: "claude-sonnet-4-5", status: "timeout", input_tokens: 10 });
  record({ provider: "openai", model: "gpt-4o", status: "exploded" as "error", output_tokens: 7 });
  const evs = await events(2);
  assert.deepEqual(evs.map((e) => e.status).sort(), ["error", "timeout"]);
});
