// The product docs' TypeScript examples, verbatim (only `messages: [...]` and the model factory
// filled in), against a fake provider: they type-check (npm run lint) and run.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createOpenAI } from "@ai-sdk/openai";
import { generateText, streamText } from "ai";
import OpenAI from "openai";
import { configure, flush, requestContext, trackGenerateText, trackStreamText, wrap } from "../src/index.node.js";
import { json, sse, startIngest, startProvider } from "./helpers.js";

const USAGE = { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 };

test("the docs' TypeScript examples run as written", async () => {
  const ingest = await startIngest();
  const fake = await startProvider({
    "POST /v1/chat/completions": async (_req, raw, res) => {
      const body = JSON.parse(raw.toString());
      const base = { id: "c", created: 1, model: "gpt-4o-2024-08-06" };
      if (!body.stream) {
        return json(res, 200, {
          ...base,
          object: "chat.completion",
          choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }],
          usage: USAGE,
        });
      }
      await sse(
        res,
        [
          { data: { ...base, object: "chat.completion.chunk", choices: [{ index: 0, delta: { content: "ok" }, finish_reason: "stop" }] } },
          { data: { ...base, object: "chat.completion.chunk", choices: [], usage: USAGE } },
        ],
        { done: true },
      );
    },
  });
  process.env.OPENAI_BASE_URL = `${fake.url}/v1`;
  process.env.OPENAI_API_KEY = "sk-test";
  configure({ ingestUrl: ingest.url, apiKey: "k", providerHosts: { [`127.0.0.1:${fake.port}`]: "openai" } });
  try {
    const prompt = "hi";
    const openai = createOpenAI({ baseURL: `${fake.url}/v1`, apiKey: "sk-test" }).chat;
    const model = openai("gpt-4o");

    // --- docs: TypeScript SDK
    const client = wrap(new OpenAI(), { team: "payments", environment: "prod" });
    await requestContext({ customer_id: "cust-42" }, async () => {
      await client.chat.completions.create({
        model: "gpt-4o",
        messages: [{ role: "user", content: prompt }],
        costobs: { feature: "summarize", promptVersion: "v3" },
      });
    });
    await flush();

    // --- docs: Vercel AI SDK
    const result = await trackGenerateText(generateText({ model: openai("gpt-4o"), prompt }), {
      feature: "summarize",
      customer_id: "cust-42",
    });
    const stream = trackStreamText(streamText({ model, prompt }), { feature: "chat" });
    for await (const _ of stream.textStream) {
      // consume
    }

    assert.equal(result.text, "ok");
    await flush();
    const events = ingest.events();
    assert.equal(events.length, 3);
    assert.deepEqual(
      events.map((e) => [e.feature, e.customer_id ?? null, e.prompt_version ?? null, e.team ?? null]),
      [
        ["summarize", "cust-42", "v3", "payments"],
        ["summarize", "cust-42", null, null],
        ["chat", null, null, null],
      ],
    );
  } finally {
    delete process.env.OPENAI_BASE_URL;
    delete process.env.OPENAI_API_KEY;
    await ingest.close();
    await fake.close();
  }
});
