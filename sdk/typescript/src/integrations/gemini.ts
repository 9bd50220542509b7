/** `@google/genai` clients: `models.generateContent`, `models.generateContentStream`, `models.embedContent`. */

import type { Meta } from "../context.js";
import { Call, type Status } from "../event.js";
import {
  complete,
  fail,
  observeItems,
  patchMethod,
  resource,
  type State,
  type StreamObserver,
  signalStatus,
  statusOf,
} from "../observe.js";
import { clean, g, n } from "../usage/common.js";
import { generateUsage, modelName } from "../usage/gemini.js";

type Obj = Record<string, unknown>;

export function isGemini(client: unknown): boolean {
  const models = resource(client, "models");
  return models !== null && typeof models.generateContent === "function" && typeof models.generateContentStream === "function";
}

function fill(call: Call, response: Obj): void {
  if (response.modelVersion) call.model = modelName(response.modelVersion);
  if (response.responseId) call.providerRequestId = String(response.responseId);
  const meta = response.usageMetadata;
  if (meta !== undefined) {
    call.deferred = (c) => {
      c.usage = generateUsage(meta);
    };
    const traffic = g(meta, "trafficType");
    if (traffic) call.serviceTier = String(traffic).toLowerCase();
  }
}

/** Each chunk may carry usageMetadata; the last one is complete. */
class GenerateObserver implements StreamObserver {
  last: Obj | null = null;
  onItem(call: Call, item: unknown): boolean {
    const chunk = item as Obj;
    if (chunk.usageMetadata !== undefined) this.last = chunk;
    else if (chunk.modelVersion) call.model = modelName(chunk.modelVersion);
    return false;
  }
  onEnd(call: Call): void {
    if (this.last !== null) fill(call, this.last);
  }
}

/**
 * `@google/genai` aborts its own request when `httpOptions.timeout` passes, and the caller sees the
 * bare `AbortError` a caller's `config.abortSignal` would give: it is a timeout unless that signal
 * was aborted.
 */
function geminiStatus(call: Call, error: unknown): Status {
  const status = statusOf(error);
  if (status !== "cancelled" || (error as { name?: unknown } | null)?.name !== "AbortError") return status;
  return signalStatus(call.signal) ?? "timeout";
}

function vertex(client: Obj): boolean {
  return client.vertexai === true;
}

export function instrumentGemini(client: Obj, defaults: Meta): State {
  const state: State = { defaults, provider: vertex(client) ? "vertex_ai" : "gemini" };
  const models = resource(client, "models");
  const start = (operation: string) => (body: Obj, meta: Meta) => {
    const call = new Call(state.provider, modelName(body.model), operation, meta);
    const signal = (body.config as Obj | undefined)?.abortSignal;
    if (signal instanceof AbortSignal) call.signal = signal;
    return call;
  };
  const failed = (call: Call, error: unknown) => fail(call, error, geminiStatus(call, error));
  patchMethod(models, "generateContent", state, start("chat"), (call, result) => {
    Promise.resolve(result).then(
      (value) => {
        fill(call, value as Obj);
        complete(call);
      },
      (error: unknown) => failed(call, error),
    );
  });
  patchMethod(models, "embedContent", state, start("embedding"), (call, result) => {
    Promise.resolve(result).then(
      (value) => {
        let tokens = 0;
        const embeddings = g(value, "embeddings");
        for (const item of Array.isArray(embeddings) ? embeddings : []) tokens += n(g(item, "statistics"), "tokenCount");
        call.usage = clean({ input_tokens: tokens, characters: n(g(value, "metadata"), "billableCharacterCount") });
        complete(call);
      },
      (error: unknown) => failed(call, error),
    );
  });
  // generateContentStream resolves to an async generator: the caller gets an observed one.
  patchMethod(models, "generateContentStream", state, start("chat"), (call, result) =>
    Promise.resolve(result).then(
      (gen) => observeItems(gen as AsyncIterable<unknown>, call, new GenerateObserver()),
      (error: unknown) => {
        failed(call, error);
        throw error;
      },
    ),
  );
  return state;
}
