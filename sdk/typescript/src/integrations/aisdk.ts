/**
 * Vercel AI SDK: `trackGenerateText(promise, metadata)`, `trackStreamText(result, metadata)` and
 * `costobsMiddleware(metadata)` for `wrapLanguageModel` (every generateText / streamText /
 * generateObject / streamObject through the wrapped model is observed, one event per provider
 * call). Provider and model come from the model object, usage from the AI SDK's result.
 * Nothing here imports `ai`: the SDK stays free of runtime dependencies.
 */

import { settings } from "../config.js";
import { EMPTY, effective, type Meta, type Metadata, makeMeta } from "../context.js";
import { Call, type Status } from "../event.js";
import { report, safe } from "../guard.js";
import { complete, fail, signalStatus, statusOf } from "../observe.js";
import { aiUsage, providerOf } from "../usage/aisdk.js";
import { clean, n } from "../usage/common.js";

type Obj = Record<string, unknown>;

function newCall(providerId: string, modelId: string, meta: Meta): Call | null {
  if (!settings().enabled) return null;
  return new Call(providerOf(providerId), modelId, "chat", effective(EMPTY, meta));
}

function recordStep(step: Obj, meta: Meta, streaming: boolean, started: number | null): void {
  const model = (step.model ?? {}) as Obj;
  const response = (step.response ?? {}) as Obj;
  const call = newCall(String(model.provider ?? "unknown"), String(response.modelId ?? model.modelId ?? ""), meta);
  if (call === null) return;
  if (started !== null) call.started = started;
  call.streaming = streaming;
  const usage = step.usage;
  const provider = call.provider;
  call.deferred = (c) => {
    c.usage = aiUsage(provider, usage);
  };
  if (response.id) call.providerRequestId = String(response.id);
  complete(call);
}

function recordSteps(result: Obj, meta: Meta, streaming: boolean, started: number): void {
  const steps = result.steps;
  if (Array.isArray(steps) && steps.length) {
    for (const step of steps) recordStep(step as Obj, meta, streaming, started);
  } else {
    recordStep(result, meta, streaming, started);
  }
}

/**
 * Observe a `generateText(...)` (or `generateObject(...)`) promise: one event per step (each
 * step is one provider call). Returns the same result; its error reaches the caller unchanged.
 */
export async function trackGenerateText<T>(promise: PromiseLike<T>, metadata: Metadata = {}): Promise<T> {
  const started = Date.now();
  let meta: Meta = EMPTY;
  try {
    meta = effective(EMPTY, makeMeta(metadata)); // the request scope where the call was made
  } catch (error) {
    report(error);
  }
  let result: T;
  try {
    result = await promise;
  } catch (error) {
    safe(() => {
      const call = newCall("unknown", "unknown", meta);
      if (call !== null) fail(call, error);
    });
    throw error;
  }
  safe(() => recordSteps(result as Obj, meta, false, started));
  return result;
}

/**
 * Observe a `streamText(...)` (or `streamObject(...)`) result as the caller consumes it; returns
 * the same result object. Recorded when its steps settle (the stream was read to the end).
 */
export function trackStreamText<T>(result: T, metadata: Metadata = {}): T {
  safe(() => {
    const started = Date.now();
    const meta = effective(EMPTY, makeMeta(metadata));
    const r = result as Obj;
    const steps = r.steps as PromiseLike<unknown> | undefined;
    if (steps === undefined || typeof (steps as { then?: unknown }).then !== "function") return;
    Promise.resolve(steps).then(
      (value) => safe(() => recordSteps({ steps: value }, meta, true, started)),
      (error: unknown) =>
        safe(() => {
          const call = newCall("unknown", "unknown", meta);
          if (call === null) return;
          call.streaming = true;
          fail(call, error);
        }),
    );
  });
  return result;
}

interface ModelLike {
  provider?: string;
  modelId?: string;
}

/**
 * A language-model middleware for the AI SDK's `wrapLanguageModel`:
 *
 *     const model = wrapLanguageModel({ model: openai("gpt-4o"), middleware: costobsMiddleware({ feature: "chat" }) });
 *
 * Every call through `model` becomes one event, with the metadata layered as for a wrapped
 * client (middleware metadata < request scope). The same middleware observes embedding models
 * through `wrapEmbeddingModel` (`embed`, `embedMany`). Typed loosely so it fits spec v2, v3, v4.
 */
export function costobsMiddleware(metadata: Metadata = {}): {
  // biome-ignore lint/suspicious/noExplicitAny: assignable to every AI SDK middleware version
  specificationVersion: any;
  // biome-ignore lint/suspicious/noExplicitAny: the AI SDK's own option types
  wrapGenerate: (options: any) => Promise<any>;
  // biome-ignore lint/suspicious/noExplicitAny: the AI SDK's own option types
  wrapStream: (options: any) => Promise<any>;
  // biome-ignore lint/suspicious/noExplicitAny: the AI SDK's own option types
  wrapEmbed: (options: any) => Promise<any>;
} {
  const defaults = makeMeta(metadata);
  const start = (model: ModelLike | undefined, operation = "chat"): Call | null =>
    safe(() => {
      if (!settings().enabled) return null;
      return new Call(providerOf(String(model?.provider ?? "unknown")), String(model?.modelId ?? ""), operation, effective(defaults, null));
    }) ?? null;
  return {
    specificationVersion: "v4",
    async wrapGenerate({ doGenerate, model }: { doGenerate: () => PromiseLike<Obj>; model?: ModelLike }) {
      const call = start(model);
      let result: Obj;
      try {
        result = await doGenerate();
      } catch (error) {
        if (call !== null) safe(() => fail(call, error));
        throw error;
      }
      if (call !== null) {
        safe(() => {
          const response = (result.response ?? {}) as Obj;
          if (response.modelId) call.model = String(response.modelId);
          if (response.id) call.providerRequestId = String(response.id);
          const usage = result.usage;
          call.deferred = (c) => {
            c.usage = aiUsage(c.provider, usage);
          };
          complete(call);
        });
      }
      return result;
    },
    async wrapStream({ doStream, model, params }: { doStream: () => PromiseLike<Obj>; model?: ModelLike; params?: Obj }) {
      const call = start(model);
      const signal = params?.abortSignal;
      if (call !== null && signal instanceof AbortSignal) call.signal = signal;
      let result: Obj;
      try {
        result = await doStream();
      } catch (error) {
        if (call !== null) safe(() => fail(call, error));
        throw error;
      }
      const inner = result.stream as ReadableStream<Obj> | undefined;
      if (call === null || inner === undefined || typeof inner.getReader !== "function") return result;
      call.streaming = true;
      return { ...result, stream: observeParts(inner, call) };
    },
    async wrapEmbed({ doEmbed, model }: { doEmbed: () => PromiseLike<Obj>; model?: ModelLike }) {
      const call = start(model, "embedding");
      let result: Obj;
      try {
        result = await doEmbed();
      } catch (error) {
        if (call !== null) safe(() => fail(call, error));
        throw error;
      }
      if (call !== null) {
        safe(() => {
          call.usage = clean({ input_tokens: n(result.usage, "tokens") });
          complete(call);
        });
      }
      return result;
    },
  };
}

/** The same stream parts; the `finish` part's usage (or the error, or a cancel) ends the call. */
function observeParts(inner: ReadableStream<Obj>, call: Call): ReadableStream<Obj> {
  const reader = inner.getReader();
  let usage: unknown;
  const end = (status: Status, error?: unknown) =>
    safe(() => {
      if (call.done) return;
      if (status !== "ok") call.status = status;
      if (error !== undefined && call.errorType === null) call.errorType = String((error as Error)?.name ?? "error");
      const u = usage;
      if (u !== undefined) {
        call.deferred = (c) => {
          c.usage = aiUsage(c.provider, u);
        };
      }
      call.stopClock();
      complete(call);
    });
  return new ReadableStream<Obj>({
    async pull(controller) {
      let next: ReadableStreamReadResult<Obj>;
      try {
        next = await reader.read();
      } catch (error) {
        end(statusOf(error), error); // an aborted or timed-out read is not a provider error
        controller.error(error);
        return;
      }
      if (next.done) {
        end(call.status === "error" ? "error" : "ok");
        controller.close();
        return;
      }
      const part = next.value;
      safe(() => {
        if (call.ttftMs === null) call.markFirstToken();
        if (part.type === "response-metadata") {
          if (part.modelId) call.model = String(part.modelId);
          if (part.id) call.providerRequestId = String(part.id);
        } else if (part.type === "finish") {
          usage = part.usage;
        } else if (part.type === "error") {
          call.status = "error";
          call.errorType = String((part.error as Error | undefined)?.name ?? "error");
        }
      });
      controller.enqueue(part);
    },
    async cancel(reason) {
      // the caller stopped reading, or its abortSignal fired (AbortSignal.timeout(): a timeout)
      end(signalStatus(call.signal) ?? "cancelled");
      await reader.cancel(reason);
    },
  });
}
