import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { attoOf, divRoundHalfEven, exactAtto, formatAtto, parseDec } from "../src/decimal.js";
import { PricingError } from "../src/errors.js";
import { priceTable } from "../src/event.js";
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
