/**
 * The instrumentation seam shared by every adapter. The provider call itself is never altered:
 * its promise is returned as is (streams are the same object, with their item iterator
 * observed), its error reaches the caller untouched, and everything the SDK does around it runs
 * inside the never-raise guard.
 */

import { settings } from "./config.js";
import { effective, type Meta, takeCallMeta } from "./context.js";
import { Call, type Status } from "./event.js";
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

function names(error: unknown): string[] {
  const e = error as { name?: unknown; constructor?: { name?: string } } | null;
  return [String(e?.name ?? ""), e?.constructor?.name ?? ""];
}

function isTimeout(error: unknown): boolean {
  return names(error).some((n) => n.includes("Timeout"));
}

/**
 * timeout (any client's timeout error: openai/anthropic `APIConnectionTimeoutError`, a
 * `TimeoutError` such as `AbortSignal.timeout()`'s, a caller's abort whose reason is one),
 * cancelled (the caller aborted) or error (the provider refused or failed).
 */
export function statusOf(error: unknown): Status {
  if (isTimeout(error)) return "timeout";
  const [name, cls] = names(error);
  if (name === "AbortError" || name === "APIUserAbortError" || cls === "APIUserAbortError") {
    const cause = (error as { cause?: unknown }).cause;
    return cause !== undefined && cause !== null && isTimeout(cause) ? "timeout" : "cancelled";
  }
  return "error";
}

/** Why the caller's own signal stopped a call (`AbortSignal.timeout()`: timeout), or null when it did not. */
export function signalStatus(signal: AbortSignal | null | undefined): Status | null {
  if (!signal?.aborted) return null;
  return isTimeout(signal.reason) ? "timeout" : "cancelled";
}

/** How a stream the client ended quietly was stopped: the caller's signal (and its reason) or the client's own controller. */
function abortedStatus(call: Call, controller: AbortController | undefined): Status | null {
  return signalStatus(call.signal) ?? (controller?.signal.aborted ? "cancelled" : null);
}

export function errorType(error: unknown): string {
  const e = error as { name?: unknown; constructor?: { name?: string }; status?: unknown; statusCode?: unknown } | null;
  const name = (e?.constructor?.name && e.constructor.name !== "Object" ? e.constructor.name : null) ?? String(e?.name ?? "Error");
  const status = typeof e?.status === "number" ? e.status : typeof e?.statusCode === "number" ? e.statusCode : null;
  return status === null ? name : `${name}:${status}`;
}

export function fail(call: Call, error: unknown, status: Status = statusOf(error)): void {
  if (call.done) return;
  call.status = status;
  call.errorType = errorType(error);
  complete(call);
}

function endStream(call: Call, observer: StreamObserver, status: Status, error: unknown): void {
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
export async function* observeItems<T>(
  items: AsyncIterable<T>,
  call: Call,
  observer: StreamObserver,
  controller?: AbortController,
): AsyncGenerator<T> {
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
    // Stainless clients end a stream quietly when it is aborted midway (the caller's signal)
    endStream(call, observer, safe(() => abortedStatus(call, controller)) ?? "ok", undefined);
  } catch (error) {
    endStream(call, observer, statusOf(error), error);
    throw error;
  } finally {
    endStream(call, observer, "cancelled", undefined);
  }
}

/** A Stainless `Stream` (openai, @anthropic-ai/sdk): observe its item iterator in place. */
export function observeStainlessStream(stream: unknown, call: Call, observer: StreamObserver): boolean {
  const s = stream as { iterator?: () => AsyncIterator<unknown>; controller?: unknown } | null;
  if (s === null || typeof s !== "object" || typeof s.iterator !== "function") return false;
  const original = s.iterator;
  const controller = s.controller instanceof AbortController ? s.controller : undefined;
  s.iterator = function (this: unknown) {
    const inner = original.call(this);
    return observeItems({ [Symbol.asyncIterator]: () => inner }, call, observer, controller);
  };
  return true;
}

interface StainlessPromise {
  parseResponse?: (client: unknown, props: unknown) => Promise<unknown>;
  responsePromise?: Promise<unknown>;
  then?: unknown;
  withResponse?: unknown;
}

/** What is read of a fetch `Response` (any fetch implementation's). */
export interface HttpResponse {
  headers: { get(name: string): string | null };
}

/** A Stainless `APIPromise`: its HTTP response and its parse step are reachable. */
function isStainless(p: StainlessPromise | null): p is Required<StainlessPromise> {
  return p !== null && typeof p === "object" && typeof p.parseResponse === "function" && p.responsePromise instanceof Promise;
}

/**
 * Observe what a provider method returned. A Stainless `APIPromise` is observed when the caller
 * parses it (await, `.withResponse()`, a stream as it is iterated) — its parse step is hooked, so
 * the caller's promise and result are the very same objects. Any other promise is observed
 * beside the caller's own handlers.
 */
export function observeResult(
  result: unknown,
  call: Call,
  onValue: (value: unknown) => void,
  /** Sees the HTTP response (headers) of a Stainless call before it is parsed. */
  onResponse?: (response: HttpResponse) => void,
): void {
  const p = result as StainlessPromise | null;
  if (isStainless(p)) {
    const original = p.parseResponse;
    p.parseResponse = async function (this: unknown, client: unknown, props: unknown) {
      const response = (props as { response?: HttpResponse } | null)?.response;
      if (onResponse !== undefined && typeof response?.headers?.get === "function") safe(() => onResponse(response));
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
  /**
   * Whether a failed Stainless call is made once more with `request` rid of what the SDK added
   * and the provider refused (a gateway refusing the injected `stream_options`); the caller's
   * promise then settles with the second attempt and never sees the refused one. Asked first
   * with no error: false leaves the call's promise untouched.
   */
  retry?: Retry,
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
        const signal = (rest[0] as { signal?: unknown } | undefined)?.signal;
        if (call !== null && signal instanceof AbortSignal) call.signal = signal;
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
      if (retry !== undefined && safe(() => retry(c, null, undefined)) === true) {
        safe(() => retryOnce(this, original as (...a: unknown[]) => unknown, [request, ...rest], result, c, retry));
      }
      const replaced = safe(() => finish(c, result));
      if (replaced !== undefined) return replaced;
    }
    return result;
  };
  Object.defineProperty(observed, "__costobs", { value: true });
  obj[name] = observed;
}

/** `(call, null, undefined)`: could this call be retried at all; `(call, request, error)`: retry it now. */
export type Retry = (call: Call, request: Record<string, unknown> | null, error: unknown) => boolean;

/** Chain a second attempt onto a Stainless call's HTTP response when `retry` says so. */
function retryOnce(
  self: unknown,
  original: (...a: unknown[]) => unknown,
  args: unknown[],
  result: unknown,
  call: Call,
  retry: Retry,
): void {
  const p = result as StainlessPromise | null;
  const request = args[0] as Record<string, unknown>;
  if (!isStainless(p)) return;
  let retried = false;
  p.responsePromise = p.responsePromise.catch((error: unknown) => {
    if (safe(() => retry(call, request, error)) !== true) throw error;
    const again = original.apply(self, args) as StainlessPromise | null;
    if (!isStainless(again)) throw error;
    retried = true;
    return again.responsePromise;
  });
  // openai ≥ 7 gives each promise its own withResponse() bound to the first attempt's request
  const own = Object.hasOwn(p, "withResponse") ? p.withResponse : undefined;
  if (typeof own === "function") {
    p.withResponse = async () => {
      const response = (await p.responsePromise.catch(() => null)) as { response?: HttpResponse } | null;
      if (!retried || !response?.response) return own.call(p);
      const data = await (p as unknown as Promise<unknown>);
      return { data, response: response.response, request_id: response.response.headers.get("x-request-id") };
    };
  }
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
