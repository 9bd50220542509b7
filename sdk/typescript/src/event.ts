/** One observed call, and its wire v1 event (built and priced when the shipper takes it). */

import { settings } from "./config.js";
import type { Meta } from "./context.js";
import { type Dec, toWireDecimal } from "./decimal.js";
import type { Usage } from "./fields.js";
import { report } from "./guard.js";
import prices from "./prices.json" with { type: "json" };
import { PriceTable } from "./pricing/table.js";
import { VERSION } from "./version.js";

/** ok; error (the provider answered with an error); timeout (no complete answer in time); cancelled (the caller stopped). */
export type Status = "ok" | "error" | "cancelled" | "timeout";

/** What an adapter learns about one provider call. Mutable until it is completed. */
export class Call {
  started = Date.now();
  t0 = performance.now();
  latencyMs = 0;
  ttftMs: number | null = null;
  streaming = false;
  usage: Usage = {};
  status: Status = "ok";
  errorType: string | null = null;
  serviceTier: string | null = null;
  batch = false;
  region: string | null = null;
  providerCost: Dec | null = null;
  providerRequestId: string | null = null;
  /** A well-known gateway recognised by host or response header (litellm, portkey…). */
  gateway: string | null = null;
  /** The base URL host (`host[:port]`) of a call through a gateway or unknown host. */
  gatewayHost: string | null = null;
  /** The caller's own AbortSignal, if any: why a stream ended early (cancelled or timeout). */
  signal: AbortSignal | null = null;
  done = false;
  /** Usage extraction run when the shipper takes the call, off the caller's path. */
  deferred: ((call: Call) => void) | null = null;

  constructor(
    public provider: string,
    public model: string,
    public operation: string,
    public meta: Meta,
  ) {}

  markFirstToken(): void {
    if (this.ttftMs === null) this.ttftMs = Math.round(performance.now() - this.t0);
  }

  stopClock(): void {
    this.latencyMs = Math.round(performance.now() - this.t0);
  }
}

const IDENT_RE = /^[a-z0-9][a-z0-9_.-]*$/;

function identifier(value: string | null | undefined): string | null {
  if (!value) return null;
  const text = value.trim().toLowerCase().replaceAll(" ", "_").slice(0, 64);
  return IDENT_RE.test(text) ? text : null;
}

function clampMs(ms: number): number {
  return Math.max(0, Math.min(Math.round(ms), 86_400_000));
}

export type WireEvent = Record<string, unknown> & { usage: Usage; provider: string; model: string };

/** The wire v1 event of a finished call (snake_case), priced locally. */
export function toWire(call: Call): WireEvent {
  if (call.deferred !== null) {
    const fn = call.deferred;
    call.deferred = null;
    try {
      fn(call);
    } catch (error) {
      report(error); // the event still ships, without the usage it could not read
    }
  }
  const event: WireEvent = {
    schema_version: 1,
    request_id: crypto.randomUUID(),
    timestamp: new Date(call.started).toISOString(),
    provider: identifier(call.provider) ?? "unknown",
    model: (call.model || "unknown").slice(0, 256),
    operation: identifier(call.operation) ?? "chat",
    usage: { ...call.usage },
    status: call.status,
    latency_ms: clampMs(call.latencyMs),
    streaming: call.streaming,
    batch: call.batch,
    sdk_language: "typescript",
    sdk_version: VERSION,
  };
  // configure({ environment, service }) is the lowest layer of every event
  const s = settings();
  if (s.environment) event.environment = s.environment.slice(0, 256);
  if (s.service) event.service = s.service.slice(0, 256);
  Object.assign(event, call.meta.fields);
  if (Object.keys(call.meta.tags).length) event.tags = { ...call.meta.tags };
  if (call.ttftMs !== null) event.time_to_first_token_ms = clampMs(call.ttftMs);
  if (call.errorType) event.error_type = call.errorType.slice(0, 128);
  const tier = identifier(call.serviceTier);
  if (tier) event.service_tier = tier;
  if (call.region) event.region = call.region.slice(0, 64);
  if (call.providerCost !== null) event.provider_cost_usd = toWireDecimal(call.providerCost);
  if (call.providerRequestId) event.provider_request_id = call.providerRequestId.slice(0, 256);
  if (call.gatewayHost) event.gateway_host = call.gatewayHost.slice(0, 256);
  const gateway = identifier(call.gateway);
  if (gateway) event.gateway = gateway;
  price(event, call);
  return event;
}

/**
 * Add the local cost estimate, the price table version (unknown models cost 0) and the canonical
 * model; a call through a gateway is recorded under the provider of the model it names
 * (`PriceTable.quoteCall`, the writer's rule too).
 */
function price(event: WireEvent, call: Call): void {
  try {
    const quote = priceTable().quoteCall({
      gateway: "gateway_host" in event,
      provider: event.provider,
      model: event.model,
      usage: event.usage,
      at: call.started,
      serviceTier: (event.service_tier as string | undefined) ?? null,
      batch: call.batch,
      region: (event.region as string | undefined) ?? null,
    });
    event.cost_usd = quote.costUsd;
    event.pricing_version = quote.version.slice(0, 64);
    event.provider = identifier(quote.provider) ?? event.provider;
    event.canonical_model = quote.canonicalModel.slice(0, 256);
  } catch (error) {
    report(error); // ships unpriced; the writer prices every event on arrival
  }
}

let table: PriceTable | null = null;

/** The bundled price table (compiled on first use). */
export function priceTable(): PriceTable {
  if (table === null) table = PriceTable.fromData(prices);
  return table;
}
