/** configure / wrap / record / flush / shutdown / stats: the public calls. */

import { type Options, resolveSettings, setSettings, settings } from "./config.js";
import { EMPTY, effective, type Meta, type Metadata, makeMeta } from "./context.js";
import { UnsupportedClientError } from "./errors.js";
import { Call, type Status } from "./event.js";
import { USAGE_FIELDS } from "./fields.js";
import { report } from "./guard.js";
import { instrumentAnthropic, isAnthropic } from "./integrations/anthropic.js";
import { instrumentBedrock, isBedrock } from "./integrations/bedrock.js";
import { instrumentGemini, isGemini } from "./integrations/gemini.js";
import { instrumentOpenAI, isOpenAI } from "./integrations/openai.js";
import type { State } from "./observe.js";
import * as shipper from "./shipper.js";
import type { Stats } from "./stats.js";
import { clean, dec } from "./usage/common.js";

/** Set the SDK up. Each option left out falls back to `COSTOBS_<NAME>`, then the default. Throws ConfigError naming a bad value. */
export function configure(options: Options = {}): void {
  setSettings(resolveSettings(options));
}

const SUPPORTED =
  "openai (OpenAI, AzureOpenAI, OpenAI-compatible baseURL), @anthropic-ai/sdk (Anthropic), @google/genai (GoogleGenAI), @aws-sdk/client-bedrock-runtime (BedrockRuntimeClient, BedrockRuntime)";
const states = new WeakMap<object, State>();

/**
 * Observe every supported call made through `client`; returns the same client. `defaults` are
 * wrap-time metadata (the nine fields, either casing; anything else a tag). Wrapping twice is
 * harmless: calls are observed once and the new defaults are merged in.
 */
export function wrap<T extends object>(client: T, defaults: Metadata = {}): T {
  const meta = makeMeta(defaults);
  const known = states.get(client);
  if (known !== undefined) {
    known.defaults = known.defaults.over(meta);
    return client;
  }
  const c = client as Record<string, unknown>;
  let instrument: ((client: Record<string, unknown>, defaults: Meta) => State) | null = null;
  if (isOpenAI(c)) instrument = instrumentOpenAI;
  else if (isAnthropic(c)) instrument = instrumentAnthropic;
  else if (isGemini(c)) instrument = instrumentGemini;
  else if (isBedrock(c)) instrument = instrumentBedrock;
  if (instrument === null) {
    const name = (client.constructor as { name?: string } | undefined)?.name ?? typeof client;
    throw new UnsupportedClientError(`wrap() does not support ${name}; supported: ${SUPPORTED}. Use record() for anything else.`);
  }
  try {
    states.set(client, instrument(c, meta));
  } catch (error) {
    report(error); // the client keeps working unobserved
  }
  return client;
}

/** A call made without an adapter. Usage by its normalised names; other keys are metadata. */
export interface RecordOptions extends Metadata {
  provider: string;
  model: string;
  operation?: string;
  usage?: Record<string, number | string>;
  status?: Status;
  errorType?: string;
  latencyMs?: number;
  streaming?: boolean;
  serviceTier?: string;
  batch?: boolean;
  region?: string;
  /** A cost the provider itself reported, as a decimal string. */
  providerCostUsd?: string;
  providerRequestId?: string;
}

const RECORD_KEYS = new Set([
  "provider",
  "model",
  "operation",
  "usage",
  "status",
  "errorType",
  "latencyMs",
  "streaming",
  "serviceTier",
  "batch",
  "region",
  "providerCostUsd",
  "providerRequestId",
]);

const STATUSES: ReadonlySet<string> = new Set(["ok", "error", "cancelled", "timeout"]);

/**
 * Record a call made without an adapter (Deepgram, ElevenLabs, gRPC APIs, batch jobs): priced
 * locally, merged with the active request scope, shipped in the background. Never throws.
 */
export function record(options: RecordOptions): void {
  try {
    if (!settings().enabled) return;
    const usage: Record<string, unknown> = { ...(options.usage ?? {}) };
    const meta: Record<string, unknown> = {};
    for (const key in options) {
      if (RECORD_KEYS.has(key)) continue;
      if (USAGE_FIELDS.has(key)) usage[key] = options[key];
      else meta[key] = options[key];
    }
    const call = new Call(options.provider, options.model, options.operation ?? "chat", effective(EMPTY, makeMeta(meta)));
    call.usage = clean(usage);
    const status = options.status ?? "ok";
    call.status = STATUSES.has(status) ? status : "error";
    call.errorType = options.errorType ?? null;
    call.latencyMs = Math.max(0, Math.trunc(options.latencyMs ?? 0));
    call.streaming = options.streaming === true;
    call.serviceTier = options.serviceTier ?? null;
    call.batch = options.batch === true;
    call.region = options.region ?? null;
    call.providerCost = options.providerCostUsd === undefined ? null : dec(options.providerCostUsd);
    call.providerRequestId = options.providerRequestId ?? null;
    call.done = true;
    shipper.submit(call);
  } catch (error) {
    report(error);
  }
}

/** Send what is queued; resolves true when everything was delivered (or given up on) in time. Never rejects. */
export function flush(timeoutMs = 5000): Promise<boolean> {
  return shipper.flush(timeoutMs);
}

/** Stop intake, drain for at most `timeoutMs` (default COSTOBS_SHUTDOWN_TIMEOUT), count what is left. */
export function shutdown(timeoutMs?: number): Promise<boolean> {
  return shipper.shutdown(timeoutMs);
}

/** The SDK's counters: sent, retried, dropped by reason, queued, internal errors. */
export function stats(): Stats {
  return shipper.stats();
}
