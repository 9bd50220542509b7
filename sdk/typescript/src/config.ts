/**
 * One typed settings table: option, then environment variable (`COSTOBS_<NAME>`, where the
 * runtime has `process.env`), then default. A bad value throws ConfigError naming it.
 */

import { ConfigError } from "./errors.js";

export const MAX_BATCH_EVENTS = 1000; // the ingest refuses more per request
export const MAX_BATCH_BYTES = 5 * 1024 * 1024; // the ingest's body limit

export interface Options {
  /** COSTOBS_INGEST_URL: where `POST /v1/events` is served. */
  ingestUrl?: string;
  /** COSTOBS_API_KEY: bearer key of the org the events belong to. */
  apiKey?: string;
  /** COSTOBS_ENABLED: false turns observation and shipping off entirely. */
  enabled?: boolean;
  /** COSTOBS_ENVIRONMENT: default `environment` of every event (lowest layer). */
  environment?: string;
  /** COSTOBS_SERVICE: default `service` of every event (lowest layer). */
  service?: string;
  /** COSTOBS_MAX_BATCH_EVENTS: events per POST (at most 1000). */
  maxBatchEvents?: number;
  /** COSTOBS_MAX_BATCH_BYTES: uncompressed JSON bytes per POST (at most 5 MiB). */
  maxBatchBytes?: number;
  /** COSTOBS_FLUSH_INTERVAL: seconds an event may wait for its batch to fill. */
  flushInterval?: number;
  /** COSTOBS_MAX_QUEUE_EVENTS: events waiting to be sent; beyond it new ones are dropped. */
  maxQueueEvents?: number;
  /** COSTOBS_MAX_RETRIES: retries of one batch before its events are dropped. */
  maxRetries?: number;
  /** COSTOBS_BACKOFF_BASE: first retry delay in seconds (doubles per retry, jittered). */
  backoffBase?: number;
  /** COSTOBS_BACKOFF_MAX: longest delay between retries, also the cap on Retry-After. */
  backoffMax?: number;
  /** COSTOBS_REQUEST_TIMEOUT: seconds for one POST. */
  requestTimeout?: number;
  /** COSTOBS_SHUTDOWN_TIMEOUT: seconds the drain at process exit may take. */
  shutdownTimeout?: number;
  /** COSTOBS_GZIP: compress batches (`Content-Encoding: gzip`). */
  gzip?: boolean;
  /** Azure deployment names and Bedrock application-profile ARNs → model ids. */
  modelAliases?: Record<string, string>;
  /** Extra base URL hosts (`host` or `host:port`) → provider, for gateways and proxies. */
  providerHosts?: Record<string, string>;
  /**
   * Hosts (`host` or `host:port`) → whether to inject `stream_options.include_usage` into
   * streamed chat calls there (default: yes for gateways/unknown hosts and the providers
   * documented to accept it); false for a gateway that must never see it.
   */
  includeUsageHosts?: Record<string, boolean>;
  /** The `fetch` used to ship events (default: the global one). */
  fetch?: typeof fetch;
  /** Debug hook called with every swallowed SDK error (tests re-throw through it). */
  onInternalError?: (error: unknown) => void;
}

export interface Settings {
  ingestUrl: string;
  apiKey: string | null;
  enabled: boolean;
  environment: string | null;
  service: string | null;
  maxBatchEvents: number;
  maxBatchBytes: number;
  flushInterval: number;
  maxQueueEvents: number;
  maxRetries: number;
  backoffBase: number;
  backoffMax: number;
  requestTimeout: number;
  shutdownTimeout: number;
  gzip: boolean;
  modelAliases: Record<string, string>;
  providerHosts: Record<string, string>;
  includeUsageHosts: Record<string, boolean>;
  fetch: typeof fetch | null;
  onInternalError: ((error: unknown) => void) | null;
}

export const DEFAULTS: Settings = {
  ingestUrl: "http://localhost:8080",
  apiKey: null,
  enabled: true,
  environment: null,
  service: null,
  maxBatchEvents: 500,
  maxBatchBytes: 1024 * 1024,
  flushInterval: 1.0,
  maxQueueEvents: 10_000,
  maxRetries: 8,
  backoffBase: 0.5,
  backoffMax: 30.0,
  requestTimeout: 10.0,
  shutdownTimeout: 2.0,
  gzip: true,
  modelAliases: {},
  providerHosts: {},
  includeUsageHosts: {},
  fetch: null,
  onInternalError: null,
};

type Kind = "str" | "bool" | "int" | "seconds";
const ENV_OPTIONS: Record<string, [string, Kind]> = {
  ingestUrl: ["COSTOBS_INGEST_URL", "str"],
  apiKey: ["COSTOBS_API_KEY", "str"],
  enabled: ["COSTOBS_ENABLED", "bool"],
  environment: ["COSTOBS_ENVIRONMENT", "str"],
  service: ["COSTOBS_SERVICE", "str"],
  maxBatchEvents: ["COSTOBS_MAX_BATCH_EVENTS", "int"],
  maxBatchBytes: ["COSTOBS_MAX_BATCH_BYTES", "int"],
  flushInterval: ["COSTOBS_FLUSH_INTERVAL", "seconds"],
  maxQueueEvents: ["COSTOBS_MAX_QUEUE_EVENTS", "int"],
  maxRetries: ["COSTOBS_MAX_RETRIES", "int"],
  backoffBase: ["COSTOBS_BACKOFF_BASE", "seconds"],
  backoffMax: ["COSTOBS_BACKOFF_MAX", "seconds"],
  requestTimeout: ["COSTOBS_REQUEST_TIMEOUT", "seconds"],
  shutdownTimeout: ["COSTOBS_SHUTDOWN_TIMEOUT", "seconds"],
  gzip: ["COSTOBS_GZIP", "bool"],
};
const OTHER_OPTIONS = new Set(["modelAliases", "providerHosts", "includeUsageHosts", "fetch", "onInternalError"]);

function parse(name: string, kind: Kind, value: unknown, source: string): unknown {
  if (kind === "bool") {
    if (typeof value === "boolean") return value;
    const text = String(value).trim().toLowerCase();
    if (["1", "true", "yes", "on"].includes(text)) return true;
    if (["0", "false", "no", "off"].includes(text)) return false;
    throw new ConfigError(`${source} must be a boolean (true/false), got ${JSON.stringify(value)}`);
  }
  if (kind === "int") {
    const n = typeof value === "number" ? value : Number(String(value).trim());
    if (!Number.isInteger(n)) throw new ConfigError(`${source} must be an integer, got ${JSON.stringify(value)}`);
    if (n < (name === "maxRetries" ? 0 : 1)) throw new ConfigError(`${source} must be positive, got ${JSON.stringify(value)}`);
    return n;
  }
  if (kind === "seconds") {
    const n = typeof value === "number" ? value : Number(String(value).trim());
    if (!Number.isFinite(n) || n < 0 || String(value).trim() === "") {
      throw new ConfigError(`${source} must be a number of seconds >= 0, got ${JSON.stringify(value)}`);
    }
    return n;
  }
  if (typeof value !== "string") throw new ConfigError(`${source} must be a string, got ${typeof value}`);
  return value;
}

function env(): Record<string, string | undefined> {
  const proc = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  return proc?.env ?? {};
}

/** Settings from options (when not undefined/null), then environment, then defaults. */
export function resolveSettings(options: Options = {}): Settings {
  const out: Record<string, unknown> = { ...DEFAULTS };
  const vars = env();
  for (const name of Object.keys(options)) {
    if (!(name in ENV_OPTIONS) && !OTHER_OPTIONS.has(name)) {
      throw new ConfigError(`unknown option ${name} (known: ${[...Object.keys(ENV_OPTIONS), ...OTHER_OPTIONS].join(", ")})`);
    }
  }
  for (const [name, [variable, kind]] of Object.entries(ENV_OPTIONS)) {
    const arg = (options as Record<string, unknown>)[name];
    if (arg !== undefined && arg !== null) out[name] = parse(name, kind, arg, `option ${name}`);
    else if (vars[variable]) out[name] = parse(name, kind, vars[variable], `environment variable ${variable}`);
  }
  for (const name of ["modelAliases", "providerHosts"] as const) {
    const value = options[name];
    if (value === undefined || value === null) continue;
    if (typeof value !== "object") throw new ConfigError(`option ${name} must be an object of strings`);
    out[name] = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, String(v)]));
  }
  const hosts = options.includeUsageHosts;
  if (hosts !== undefined && hosts !== null) {
    if (typeof hosts !== "object" || !Object.values(hosts).every((v) => typeof v === "boolean")) {
      throw new ConfigError("option includeUsageHosts must be an object of host to true/false");
    }
    out.includeUsageHosts = Object.fromEntries(Object.entries(hosts).map(([k, v]) => [k.toLowerCase(), v]));
  }
  for (const name of ["fetch", "onInternalError"] as const) {
    const value = options[name];
    if (value === undefined || value === null) continue;
    if (typeof value !== "function") throw new ConfigError(`option ${name} must be a function`);
    out[name] = value;
  }
  const settings = out as unknown as Settings;
  let url: URL | null = null;
  try {
    url = new URL(settings.ingestUrl);
  } catch {
    url = null;
  }
  if (url === null || !["http:", "https:"].includes(url.protocol)) {
    throw new ConfigError(`ingestUrl (COSTOBS_INGEST_URL) must be an http(s) URL, got ${JSON.stringify(settings.ingestUrl)}`);
  }
  if (settings.maxBatchEvents > MAX_BATCH_EVENTS) {
    throw new ConfigError(`maxBatchEvents (COSTOBS_MAX_BATCH_EVENTS) is at most ${MAX_BATCH_EVENTS}`);
  }
  if (settings.maxBatchBytes > MAX_BATCH_BYTES) {
    throw new ConfigError(`maxBatchBytes (COSTOBS_MAX_BATCH_BYTES) is at most ${MAX_BATCH_BYTES}`);
  }
  return settings;
}

let current: Settings | null = null;

export function setSettings(settings: Settings): void {
  current = settings;
}

/** The settings in force; from the environment on first use (defaults, with a warning, if bad). */
export function settings(): Settings {
  if (current === null) {
    try {
      current = resolveSettings();
    } catch (error) {
      console.warn(`costobs: ${(error as Error).message}; using defaults`);
      current = { ...DEFAULTS };
    }
  }
  return current;
}
