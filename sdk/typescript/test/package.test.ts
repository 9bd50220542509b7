import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { resolveSettings } from "../src/config.js";
import * as edge from "../src/index.edge.js";
import * as sdk from "../src/index.node.js";
import { ConfigError, configure, UnsupportedClientError, wrap } from "../src/index.node.js";
import { PKG, REPO, repoPath } from "./helpers.js";

test("the bundled price table and provider map are the current copies (make sync-pricing)", () => {
  for (const name of ["prices.json", "providers.json"]) {
    const ours = readFileSync(join(PKG, "src", name), "utf8");
    const python = readFileSync(repoPath(`sdk/python/costobs/_data/${name}`), "utf8");
    assert.equal(ours, python, `src/${name} is stale: run make sync-pricing`);
  }
  const venvPython = join(REPO, ".venv", "bin", "python");
  if (existsSync(venvPython)) {
    // the source of truth: pricing/prices.yaml and sdk/providers.json, checked by the sync script
    execFileSync(venvPython, [repoPath("scripts/sync_pricing.py"), "--check"], { stdio: "pipe" });
  }
});

test("the public surface is exactly the documented one", () => {
  const expected = [
    "ConfigError",
    "CostObsError",
    "PricingError",
    "UnsupportedClientError",
    "VERSION",
    "configure",
    "costobsMiddleware",
    "flush",
    "quote",
    "record",
    "requestContext",
    "shutdown",
    "stats",
    "trackGenerateText",
    "trackStreamText",
    "wrap",
  ];
  assert.deepEqual(Object.keys(sdk).sort(), expected);
  assert.deepEqual(Object.keys(edge).sort(), expected);
});

test("bad settings raise ConfigError naming the option or variable", () => {
  assert.throws(
    () => configure({ maxBatchEvents: 5000 }),
    (e: unknown) => e instanceof ConfigError && /maxBatchEvents/.test(String(e)),
  );
  assert.throws(() => configure({ ingestUrl: "ftp://x" }), /ingestUrl \(COSTOBS_INGEST_URL\)/);
  assert.throws(() => configure({ flushInterval: -1 }), /option flushInterval/);
  assert.throws(() => configure({ nope: 1 } as never), /unknown option nope/);
  process.env.COSTOBS_MAX_RETRIES = "lots";
  try {
    assert.throws(() => resolveSettings(), /environment variable COSTOBS_MAX_RETRIES must be an integer/);
  } finally {
    delete process.env.COSTOBS_MAX_RETRIES;
  }
  process.env.COSTOBS_ENVIRONMENT = "staging";
  try {
    assert.equal(resolveSettings().environment, "staging");
    assert.equal(resolveSettings({ environment: "prod" }).environment, "prod", "an option wins over the environment");
  } finally {
    delete process.env.COSTOBS_ENVIRONMENT;
  }
});

test("wrap() of something unsupported says what is supported", () => {
  assert.throws(
    () => wrap({ hello: 1 }),
    (e: unknown) => e instanceof UnsupportedClientError && /record\(\)/.test(String(e)),
  );
});

test("the edge build imports nothing from node:", () => {
  for (const file of ["dist/edge.mjs", "dist/edge.cjs"]) {
    const text = readFileSync(join(PKG, file), "utf8");
    assert.doesNotMatch(text, /["']node:|require\(["'](zlib|async_hooks|http|https|fs)["']\)/, file);
  }
  const node = readFileSync(join(PKG, "dist/node.mjs"), "utf8");
  assert.match(node, /node:async_hooks/);
});

test("configure({ environment, service }) is the lowest layer of every event", async () => {
  const { startIngest } = await import("./helpers.js");
  const { flush, record, requestContext } = await import("../src/index.node.js");
  const ingest = await startIngest();
  try {
    configure({ ingestUrl: ingest.url, apiKey: "k", environment: "staging", service: "api", flushInterval: 0.01 });
    record({ provider: "openai", model: "gpt-4o", usage: { input_tokens: 1 } });
    requestContext({ environment: "prod" }, () => record({ provider: "openai", model: "gpt-4o", usage: { input_tokens: 2 } }));
    await flush();
    const events = ingest.events().sort((a, b) => Number(a.usage.input_tokens) - Number(b.usage.input_tokens));
    assert.deepEqual(
      events.map((e) => [e.environment, e.service]),
      [
        ["staging", "api"],
        ["prod", "api"],
      ],
    );
  } finally {
    await ingest.close();
  }
});
