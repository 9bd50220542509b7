import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { attoOf, divRoundHalfEven, exactAtto, formatAtto, parseDec } from "../src/decimal.js";
import { PricingError } from "../src/errors.js";
import { priceTable } from "../src/event.js";
import { GATEWAY_PROVIDER } from "../src/pricing/table.js";
import { repoPath } from "./helpers.js";

interface Vector {
  id: string;
  provider: string;
  model: string;
  at: string;
  usage: Record<string, number | string>;
  service_tier: string | null;
  batch: boolean;
  region: string | null;
  expected_cost: string;
  expected_entry: string | null;
}

const vectors = JSON.parse(readFileSync(repoPath("pricing/testdata/vectors.json"), "utf8")) as {
  table_version: string;
  vectors: Vector[];
};

test("every shared pricing vector prices exactly", () => {
  const table = priceTable();
  assert.equal(table.version, vectors.table_version);
  assert.ok(vectors.vectors.length >= 100);
  const wrong: string[] = [];
  for (const v of vectors.vectors) {
    const q = table.quote({
      provider: v.provider,
      model: v.model,
      usage: v.usage,
      at: Date.parse(v.at),
      serviceTier: v.service_tier,
      batch: v.batch,
      region: v.region,
    });
    if (q.costUsd !== v.expected_cost || q.entry !== v.expected_entry) {
      wrong.push(`${v.id}: got ${q.costUsd} (${q.entry}), want ${v.expected_cost} (${v.expected_entry})`);
    }
  }
  assert.deepEqual(wrong, []);
});

test("the breakdown sums to the cost and unknown models are unpriced at 0", () => {
  const table = priceTable();
  const q = table.quote({
    provider: "openai",
    model: "gpt-4o",
    usage: { input_tokens: 2000, cached_input_tokens: 8000, output_tokens: 500 },
  });
  const sum = Object.values(q.breakdown).reduce((acc, v) => acc + (exactAtto(parseDec(v)!) ?? 0n), 0n);
  assert.equal(formatAtto(sum), q.costUsd);
  assert.equal(q.costUsd, "0.02");
  assert.equal(q.breakdown.input, "0.005");
  const unknown = table.quote({ provider: "openai", model: "no-such-model-xyz", usage: { input_tokens: 5 } });
  assert.equal(unknown.costUsd, "0");
  assert.equal(unknown.unpriced, true);
});

test("bad usage is refused with a clear error", () => {
  const table = priceTable();
  assert.throws(() => table.quote({ provider: "openai", model: "gpt-4o", usage: { prompt: 1 } }), /unknown usage field 'prompt'/);
  assert.throws(() => table.quote({ provider: "openai", model: "gpt-4o", usage: { input_tokens: 1.5 } }), PricingError);
  assert.throws(
    () => table.quote({ provider: "openai", model: "gpt-4o", usage: { output_tokens: 1, reasoning_tokens: 2 } }),
    /cannot exceed/,
  );
});

test("decimal arithmetic rounds half-even at 18 places and never uses floats", () => {
  assert.equal(divRoundHalfEven(5n, 2n), 2n);
  assert.equal(divRoundHalfEven(7n, 2n), 4n);
  assert.equal(divRoundHalfEven(1n, 3n), 0n);
  // 1 second at $0.006 per minute = 0.0001 exactly
  assert.equal(formatAtto(attoOf(parseDec("1")!, parseDec("0.006")!, 60)), "0.0001");
  // 1 second at $1 per minute = 0.0166… → 18 places, last digit rounded
  assert.equal(formatAtto(attoOf(parseDec("1")!, parseDec("1")!, 60)), "0.016666666666666667");
  assert.equal(formatAtto(0n), "0");
  assert.equal(formatAtto(10n ** 18n * 3n), "3");
});

const NOW = Date.parse("2026-11-01T00:00:00Z");

// (model through a gateway, the same call direct): provider, model as the provider takes it
const GATEWAY_CASES: Array<[string, string, string]> = [
  ["gpt-4o-mini-2024-07-18", "openai", "gpt-4o-mini-2024-07-18"],
  ["openai/gpt-4o", "openai", "gpt-4o"],
  ["anthropic/claude-opus-4-1", "anthropic", "claude-opus-4-1-20250805"],
  ["claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5"],
  ["us.anthropic.claude-sonnet-4-5-20250929-v1:0", "bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0"],
  ["bedrock/global.anthropic.claude-haiku-4-5-20251001-v1:0", "bedrock", "global.anthropic.claude-haiku-4-5-20251001-v1:0"],
  ["gemini/gemini-2.5-pro", "gemini", "gemini-2.5-pro"],
  ["x-ai/grok-4", "xai", "grok-4"],
  ["deepseek-chat", "deepseek", "deepseek-chat"],
  ["mistral-large-latest", "mistral", "mistral-large-latest"],
];

test("a gateway call is priced and recorded as the direct call (the Python engine's quote_call cases)", () => {
  const table = priceTable();
  const usage = { input_tokens: 300_000, cached_input_tokens: 1234, output_tokens: 4321 };
  for (const [via, provider, direct] of GATEWAY_CASES) {
    const through = table.quoteCall({ provider: "openai_compatible", model: via, usage, at: NOW });
    const flagged = table.quoteCall({ provider, model: via, usage, at: NOW, gateway: true }); // an SDK's resolved event
    const straight = table.quoteCall({ provider, model: direct, usage, at: NOW });
    assert.equal(straight.unpriced, false, via);
    assert.notEqual(straight.costUsd, "0", via);
    assert.equal(through.costUsd, straight.costUsd, `${via}: long context, regions too`);
    assert.equal(flagged.costUsd, straight.costUsd, via);
    assert.equal(through.provider, provider, via);
    assert.equal(flagged.provider, provider, via);
    assert.equal(through.canonicalModel, straight.canonicalModel, via);
    assert.equal(through.model, via);
  }
});

test("the canonical model is one name across clouds", () => {
  const table = priceTable();
  const names = new Set(
    [
      ["anthropic", "claude-sonnet-4-5-20250929"],
      ["bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0"],
      ["bedrock", "arn:aws:bedrock:us-east-1:1:inference-profile/eu.anthropic.claude-sonnet-4-5-20250929-v1:0"],
      ["vertex", "claude-sonnet-4-5@20250929"],
      ["openrouter", "anthropic/claude-sonnet-4.5"],
    ].map(([provider, model]) => table.quote({ provider: provider as string, model: model as string, usage: {} }).canonicalModel),
  );
  assert.deepEqual([...names], ["claude-sonnet-4-5"]);
  // a Bedrock model with no same-named entry at its vendor keeps the Bedrock name
  assert.equal(table.quote({ provider: "bedrock", model: "amazon.nova-pro-v1:0", usage: {} }).canonicalModel, "amazon.nova-pro");
  assert.equal(table.quote({ provider: "acme", model: "foo-1", usage: {} }).canonicalModel, "foo-1", "unpriced: as sent");
});

test("the gateway provider is the one sdk/providers.json stamps", () => {
  const shared = JSON.parse(readFileSync(repoPath("sdk/providers.json"), "utf8")) as { gateway_provider: string };
  assert.equal(shared.gateway_provider, GATEWAY_PROVIDER);
});
