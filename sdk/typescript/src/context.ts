/**
 * Attribution metadata and its three layers: wrap-time defaults < request scope < per call.
 * The request scope lives in an AsyncLocalStorage (Node entry: node:async_hooks; edge entry:
 * the runtime's global one where it has it), so it survives `await` and stays isolated between
 * concurrent requests.
 */

export const FIELDS = [
  "customer_id",
  "user_id",
  "trace_id",
  "feature",
  "team",
  "service",
  "environment",
  "prompt_key",
  "prompt_version",
] as const;
export type Field = (typeof FIELDS)[number];

/** Metadata as users write it: the nine fields in snake_case or camelCase, `tags`, anything else a tag. */
export interface Metadata {
  customer_id?: string;
  customerId?: string;
  user_id?: string;
  userId?: string;
  trace_id?: string;
  traceId?: string;
  feature?: string;
  team?: string;
  service?: string;
  environment?: string;
  prompt_key?: string;
  promptKey?: string;
  prompt_version?: string;
  promptVersion?: string;
  tags?: Record<string, string | number | boolean | null | undefined>;
  [tag: string]: unknown;
}

const CANONICAL = new Map<string, Field>();
for (const f of FIELDS) {
  CANONICAL.set(f, f);
  CANONICAL.set(
    f.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()),
    f,
  );
}
export const MAX_TAGS = 32;
const MAX_TEXT = 256;

/** An immutable layer: first-class fields and free-form tags. */
export class Meta {
  constructor(
    readonly fields: Readonly<Partial<Record<Field, string>>>,
    readonly tags: Readonly<Record<string, string>>,
  ) {}

  get empty(): boolean {
    return Object.keys(this.fields).length === 0 && Object.keys(this.tags).length === 0;
  }

  /** This layer with `top` laid over it (top wins, field by field). */
  over(top: Meta | null | undefined): Meta {
    if (top == null || top.empty) return this;
    if (this.empty) return top;
    return new Meta({ ...this.fields, ...top.fields }, cap({ ...this.tags, ...top.tags }));
  }
}

export const EMPTY = new Meta({}, {});

function cap(tags: Record<string, string>): Record<string, string> {
  const keys = Object.keys(tags);
  if (keys.length <= MAX_TAGS) return tags;
  return Object.fromEntries(keys.slice(0, MAX_TAGS).map((k) => [k, tags[k] as string]));
}

function text(value: unknown): string {
  return String(value).slice(0, MAX_TEXT);
}

/** Fields from known names (either casing), `tags` merged in, every other name a tag. */
export function makeMeta(values: Readonly<Record<string, unknown>> | null | undefined): Meta {
  if (values == null) return EMPTY;
  const fields: Partial<Record<Field, string>> = {};
  const tags: Record<string, string> = {};
  for (const key in values) {
    const value = values[key];
    if (value === undefined || value === null) continue;
    const field = CANONICAL.get(key);
    if (field !== undefined) {
      const t = text(value);
      if (t) fields[field] = t;
    } else if (key === "tags" && typeof value === "object") {
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (v !== undefined && v !== null) tags[k] = text(v);
      }
    } else {
      tags[key] = text(value);
    }
  }
  if (Object.keys(fields).length === 0 && Object.keys(tags).length === 0) return EMPTY;
  return new Meta(fields, cap(tags));
}

/** The part of AsyncLocalStorage the SDK uses. */
export interface ScopeStorage {
  getStore(): Meta | undefined;
  run<R>(store: Meta, fn: () => R): R;
}

/** Without an AsyncLocalStorage: scopes hold for synchronous code and until the first await. */
class StackStorage implements ScopeStorage {
  private stack: Meta[] = [];
  getStore(): Meta | undefined {
    return this.stack[this.stack.length - 1];
  }
  run<R>(store: Meta, fn: () => R): R {
    this.stack.push(store);
    try {
      return fn();
    } finally {
      this.stack.pop();
    }
  }
}

type AlsCtor = new () => ScopeStorage;
function defaultStorage(): ScopeStorage {
  const ctor = (globalThis as { AsyncLocalStorage?: AlsCtor }).AsyncLocalStorage;
  return typeof ctor === "function" ? new ctor() : new StackStorage();
}

let storage: ScopeStorage = defaultStorage();

/** Entry points install the runtime's AsyncLocalStorage here. */
export function setScopeStorage(s: ScopeStorage): void {
  storage = s;
}

export function currentScope(): Meta | undefined {
  return storage.getStore();
}

/** The metadata of one call: wrap-time defaults < request scope < per call. */
export function effective(defaults: Meta, call: Meta | null | undefined): Meta {
  return defaults.over(storage.getStore()).over(call);
}

/**
 * Run `fn` with `metadata` as the request scope of every observed call inside it (sync or
 * async). Nested scopes layer: the inner one wins field by field. Returns what `fn` returns.
 */
export function requestContext<R>(metadata: Metadata, fn: () => R): R {
  let meta: Meta;
  try {
    const outer = storage.getStore();
    meta = outer ? outer.over(makeMeta(metadata)) : makeMeta(metadata);
  } catch {
    return fn();
  }
  return storage.run(meta, fn);
}

/**
 * A provider request without its per-call `costobs` key, and that key's metadata. The request
 * is a shallow copy, so what the SDK changes (the `costobs` key, an injected `stream_options`)
 * never touches the caller's object.
 */
export function takeCallMeta<T>(body: T): [T, Meta | null] {
  if (body === null || typeof body !== "object" || Array.isArray(body)) return [body, null];
  const { costobs, ...rest } = body as Record<string, unknown>;
  return [rest as T, costobs === undefined ? null : makeMeta(costobs as Record<string, unknown> | null)];
}
