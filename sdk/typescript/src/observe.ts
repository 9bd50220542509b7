/**
 * The instrumentation seam shared by every adapter. The provider call itself is never altered:
 * its promise is returned as is (streams are the same object, with their item iterator
 * observed), its error reaches the caller untouched, and everything the SDK does around it runs
 * inside the never-raise guard.
 */

import { settings } from "./config.js";
import { effective, type Meta, takeCallMeta } from "./context.js";
import { Call } from "./event.js";
import { report, safe } from "./guard.js";
import { submit } from "./shipper.js";

/** Per wrapped client: its wrap-time metadata (updated when wrapped again) and what it is. */
export interface State {
  defaults: Meta;
  provider: string;
}

export interface StreamObserver {
  /** Observe one streamed item; true hides it from the caller (the injected usage chunk). */
  onItem(call: Call, item: unknown): boolean;
  /** Fill `call` from what the stream showed (usage, model, final status). */
  onEnd(call: Call): void;
}

/** Ship a finished call once. */
export function complete(call: Call): void {
  if (call.done) return;
  call.done = true;
  if (!call.latencyMs) call.stopClock();
  submit(call);
}

function isAbort(error: unknown): boolean {
  const name = (error as { name?: unknown } | null)?.name;
  return name === "AbortError" || name === "APIUserAbortError" || name === "TimeoutError";
}

export function errorType(error: unknown): string {
  const e = error as { name?: unknown; constructor?: { name?: string }; status?: unknown; statusCode?: unknown } | null;
  const name = (e?.constructor?.name && e.constructor.name !== "Object" ? e.constructor.name : null) ?? String(e?.name ?? "Error");
  const status = typeof e?.status === "number" ? e.status : typeof e?.statusCode === "number" ? e.statusCode : null;
  return status === null ? name : `${name}:${status}`;
}

export function fail(call: Call, error: unknown): void {
  if (call.done) return;
  call.status = isAbort(error) ? "cancelled" : "error";
  call.errorType = errorType(error);
  complete(call);
}

function endStream(call: Call, observer: StreamObserver, status: "ok" | "error" | "cancelled", error: unknown): void {
  if (call.done) return;
  safe(() => {
    call.stopClock();
    if (error !== undefined) call.errorType = errorType(error);
    if (call.status === "ok") call.status = status;
    observer.onEnd(call);
  });
  safe(() => complete(call));
}

/**
 * The same items (less hidden ones); one event when the stream ends, fails, is cut off or is
 * left early (`break`, `return()`): cancelled with the usage seen so far.
 */
export async function* observeItems<T>(items: AsyncIterable<T>, call: Call, observer: StreamObserver): AsyncGenerator<T> {
  call.streaming = true;
  try {
    for await (const item of items) {
      let hide = false;
      try {
        if (call.ttftMs === null) call.markFirstToken();
        hide = observer.onItem(call, item);
      } catch (error) {
        report(error);
      }
      if (!hide) yield item;
    }
    endStream(call, observer, "ok", undefined);
  } catch (error) {
    endStream(call, observer, isAbort(error) ? "cancelled" : "error", error);
    throw error;
  } finally {
    endStream(call, observer, "cancelled", undefined);
  }
}

/** A Stainless `Stream` (openai, @anthropic-ai/sdk): observe its item iterator in place. */
export function observeStainlessStream(stream: unknown, call: Call, observer: StreamObserver): boolean {
  const s = stream as { iterator?: () => AsyncIterator<unknown> } | null;
  if (s === null || typeof s !== "object" || typeof s.iterator !== "function") return false;
  const original = s.iterator;
  s.iterator = function (this: unknown) {
    const inner = original.call(this);
    return observeItems({ [Symbol.asyncIterator]: () => inner }, call, observer);
  };
  return true;
}

interface StainlessPromise {
  parseResponse?: (client: unknown, props: unknown) => Promise<unknown>;
  responsePromise?: Promise<unknown>;
  then?: unknown;
}

/**
 * Observe what a provider method returned. A Stainless `APIPromise` is observed when the caller
 * parses it (await, `.withResponse()`, a stream as it is iterated) — its parse step is hooked, so
 * the caller's promise and result are the very same objects. Any other promise is observed
 * beside the caller's own handlers.
 */
export function observeResult(result: unknown, call: Call, onValue: (value: unknown) => void): void {
  const p = result as StainlessPromise | null;
  if (p !== null && typeof p === "object" && typeof p.parseResponse === "function" && p.responsePromise) {
    const original = p.parseResponse;
    p.parseResponse = async function (this: unknown, client: unknown, props: unknown) {
      let data: unknown;
      try {
        data = await original.call(this, client, props);
      } catch (error) {
        safe(() => fail(call, error));
        throw error;
      }
      safe(() => onValue(data));
      return data;
    };
    p.responsePromise.then(undefined, (error: unknown) => safe(() => fail(call, error)));
    return;
  }
  if (p !== null && typeof p === "object" && typeof p.then === "function") {
    (p as Promise<unknown>).then(
      (value) => safe(() => onValue(value)),
      (error: unknown) => safe(() => fail(call, error)),
    );
    return;
  }
  onValue(result);
}

export type Starter = (state: State, body: Record<string, unknown>, meta: Meta | null) => Call | null;

/**
 * Replace `obj[name]` on the instance by its observed version (idempotent). Per-call
 * `costobs: {...}` is taken out of the request body before the provider sees it, always.
 */
export function patchMethod(
  obj: Record<string, unknown> | null | undefined,
  name: string,
  state: State,
  start: (body: Record<string, unknown>, meta: Meta) => Call | null,
  /** Observes the result; may return a replacement for it (an observed async generator). */
  finish: (call: Call, result: unknown) => unknown,
): void {
  if (obj === null || obj === undefined) return;
  const original = obj[name];
  if (typeof original !== "function" || (original as { __costobs?: boolean }).__costobs) return;
  const observed = function (this: unknown, body: unknown, ...rest: unknown[]) {
    const [request, callMeta] = takeCallMeta(body);
    let call: Call | null = null;
    try {
      if (settings().enabled && request !== null && typeof request === "object") {
        call = start(request as Record<string, unknown>, effective(state.defaults, callMeta));
      }
    } catch (error) {
      report(error);
      call = null;
    }
    let result: unknown;
    try {
      result = (original as (...a: unknown[]) => unknown).call(this, request, ...rest);
    } catch (error) {
      if (call !== null) safe(() => fail(call as Call, error));
      throw error;
    }
    if (call !== null) {
      const c = call;
      const replaced = safe(() => finish(c, result));
      if (replaced !== undefined) return replaced;
    }
    return result;
  };
  Object.defineProperty(observed, "__costobs", { value: true });
  obj[name] = observed;
}

/** A nested resource of a client (`client.chat.completions`), or null. */
export function resource(client: unknown, path: string): Record<string, unknown> | null {
  let obj: unknown = client;
  for (const part of path.split(".")) {
    if (obj === null || obj === undefined || typeof obj !== "object") return null;
    obj = (obj as Record<string, unknown>)[part];
  }
  return obj !== null && typeof obj === "object" ? (obj as Record<string, unknown>) : null;
}

export { Call };
