// Added latency of a @costobs/sdk-wrapped call vs the same unwrapped call, in the same run.
//
//     cd sdk/typescript && npm run bench        (or: make bench)
//
// The real `openai` client talks to an in-process fake (a custom `fetch` returning canned JSON
// or SSE at once: no sockets, so the figure is the SDK's own work, not network noise); the SDK
// ships its batches through a fake ingest fetch answering 202, so queueing, serialising,
// pricing and gzip run as in production (in the background, as they do there). Wrapped and
// unwrapped calls are interleaved so drift hits both equally; p50 and p99 of the difference of
// the two distributions are reported, plus pricing µs/quote and the minified size of the edge
// entry point with and without the price table. Targets: p50 ≤ 20 µs plain, ≤ 50 µs streamed,
// edge bundle ≤ 60 kB minified without the price table.
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { gzipSync } from "node:zlib";

const PKG = join(dirname(fileURLToPath(import.meta.url)), "..", "sdk", "typescript");
const require = createRequire(join(PKG, "package.json"));
const { default: OpenAI } = await import(pathToFileURL(require.resolve("openai")).href);
const esbuild = await import(pathToFileURL(require.resolve("esbuild")).href);
const sdk = await import(pathToFileURL(join(PKG, "dist", "node.mjs")).href);

const CALLS = Number(process.argv[2] ?? 4000);
const usage = {
  prompt_tokens: 1200,
  completion_tokens: 300,
  prompt_tokens_details: { cached_tokens: 200 },
  completion_tokens_details: { reasoning_tokens: 50 },
};
const completion = JSON.stringify({
  id: "c",
  object: "chat.completion",
  created: 1,
  model: "gpt-4o-2024-08-06",
  choices: [{ index: 0, message: { role: "assistant", content: "hi" }, finish_reason: "stop" }],
  usage,
});
const chunk = (delta, extra = {}) =>
  `data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", created: 1, model: "gpt-4o-2024-08-06", choices: [{ index: 0, delta }], usage: null, ...extra })}\n\n`;
const sse = [
  ...Array.from({ length: 20 }, (_, i) => chunk({ content: `t${i}` })),
  `data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", created: 1, model: "gpt-4o-2024-08-06", choices: [], usage })}\n\n`,
  "data: [DONE]\n\n",
].join("");

const fakeProvider = async (_url, init) => {
  const body = JSON.parse(init.body);
  if (body.stream) return new Response(sse, { status: 200, headers: { "content-type": "text/event-stream" } });
  return new Response(completion, { status: 200, headers: { "content-type": "application/json" } });
};
let shipped = 0;
const fakeIngest = async (_url, init) => {
  shipped += 1;
  void init;
  return new Response('{"accepted":1,"duplicates":0,"rejected":[]}', { status: 202 });
};

sdk.configure({
  ingestUrl: "http://127.0.0.1:9",
  apiKey: "bench",
  fetch: fakeIngest,
  flushInterval: 0.2,
  providerHosts: { "fake.local": "openai" },
});
const make = () => new OpenAI({ apiKey: "sk", baseURL: "http://fake.local/v1", fetch: fakeProvider, maxRetries: 0 });
const plain = make();
const wrapped = sdk.wrap(make(), { team: "bench" });

async function once(client, stream) {
  const t0 = performance.now();
  if (stream) {
    const s = await client.chat.completions.create({ model: "gpt-4o", messages: [], stream: true });
    for await (const _ of s) {
      // consume
    }
  } else {
    await client.chat.completions.create({ model: "gpt-4o", messages: [] });
  }
  return (performance.now() - t0) * 1000; // µs
}

function pct(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function measure(stream) {
  const a = [];
  const b = [];
  for (let i = 0; i < 300; i++) {
    await once(plain, stream);
    await once(wrapped, stream);
  }
  for (let i = 0; i < CALLS; i++) {
    if (i % 2) {
      a.push(await once(plain, stream));
      b.push(await once(wrapped, stream));
    } else {
      b.push(await once(wrapped, stream));
      a.push(await once(plain, stream));
    }
  }
  return { p50: pct(b, 50) - pct(a, 50), p99: pct(b, 99) - pct(a, 99), base50: pct(a, 50) };
}

const plainResult = await measure(false);
const streamResult = await measure(true);
await sdk.flush(10000);

const table = (await import(pathToFileURL(join(PKG, "build-test", "src", "event.js")).href).catch(() => null))?.priceTable;
let quoteUs = null;
if (table) {
  const t = table();
  const q = { provider: "openai", model: "gpt-4o-2024-08-06", usage: { input_tokens: 1000, cached_input_tokens: 200, output_tokens: 300, reasoning_tokens: 50 } };
  for (let i = 0; i < 5000; i++) t.quote(q).costUsd;
  const n = 50000;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) t.quote(q).costUsd;
  quoteUs = ((performance.now() - t0) / n) * 1000;
}

async function edgeSize(withTable) {
  const stub = {
    name: "no-price-table",
    setup(build) {
      build.onLoad({ filter: /prices\.json$/ }, () => ({ contents: '{"version":"stub","providers":{},"entries":[]}', loader: "json" }));
    },
  };
  const out = await esbuild.build({
    entryPoints: [join(PKG, "src", "index.edge.ts")],
    bundle: true,
    minify: true,
    format: "esm",
    platform: "neutral",
    write: false,
    absWorkingDir: PKG,
    plugins: withTable ? [] : [stub],
  });
  const bytes = out.outputFiles[0].contents;
  return { raw: bytes.length, gzip: gzipSync(bytes).length };
}
const lean = await edgeSize(false);
const full = await edgeSize(true);
const kb = (n) => `${(n / 1024).toFixed(1)} kB`;

console.log(`calls per case: ${CALLS} (interleaved), batches shipped: ${shipped}, SDK drops: ${sdk.stats().droppedTotal}`);
console.log(
  `plain call:    added p50 ${plainResult.p50.toFixed(1)} µs, p99 ${plainResult.p99.toFixed(1)} µs (unwrapped p50 ${plainResult.base50.toFixed(0)} µs) — target p50 ≤ 20 µs`,
);
console.log(
  `streamed call: added p50 ${streamResult.p50.toFixed(1)} µs, p99 ${streamResult.p99.toFixed(1)} µs (unwrapped p50 ${streamResult.base50.toFixed(0)} µs, 21 chunks) — target p50 ≤ 50 µs`,
);
if (quoteUs !== null) console.log(`pricing: ${quoteUs.toFixed(2)} µs per quote (bigint atto-USD, exact)`);
console.log(`edge entry, minified: ${kb(lean.raw)} (${kb(lean.gzip)} gzip) without the price table — target ≤ 60 kB; ${kb(full.raw)} (${kb(full.gzip)} gzip) with it`);
