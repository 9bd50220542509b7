/**
 * `@anthropic-ai/sdk` clients: `messages.create` (incl. `stream: true`) and `beta.messages.create`.
 * `messages.stream()` and `messages.parse()` call the same `create`, so they are observed too.
 */

import type { Meta } from "../context.js";
import { Call } from "../event.js";
import { complete, observeResult, observeStainlessStream, patchMethod, resource, type State, type StreamObserver } from "../observe.js";
import { mergeLatest, messagesUsage, region, tier } from "../usage/anthropic.js";

type Obj = Record<string, unknown>;

export function isAnthropic(client: unknown): boolean {
  const c = client as Obj | null;
  return (
    c !== null &&
    typeof c === "object" &&
    typeof resource(c, "messages")?.create === "function" &&
    typeof c.baseURL === "string" &&
    resource(c, "chat.completions") === null
  );
}

function providerOf(client: Obj): string {
  const name = (client.constructor as { name?: string } | undefined)?.name ?? "";
  if (name.includes("Bedrock")) return "bedrock";
  if (name.includes("Vertex")) return "vertex_ai";
  return "anthropic";
}

function fillUsage(call: Call, raw: unknown): void {
  call.usage = messagesUsage(raw);
  call.serviceTier = tier(raw) ?? call.serviceTier;
  call.region = region(raw) ?? call.region;
}

class MessagesObserver implements StreamObserver {
  state: Obj = {};
  onItem(call: Call, item: unknown): boolean {
    const event = item as Obj;
    if (event.type === "message_start") {
      const message = event.message as Obj | undefined;
      if (message?.model) call.model = String(message.model);
      if (message?.id) call.providerRequestId = String(message.id);
      mergeLatest(this.state, message?.usage);
    } else if (event.type === "message_delta") {
      mergeLatest(this.state, event.usage);
    } else if (event.type === "error") {
      call.status = "error";
      call.errorType = String((event.error as Obj | undefined)?.type ?? "error");
    }
    return false;
  }
  onEnd(call: Call): void {
    const state = this.state;
    if (Object.keys(state).length) call.deferred = (c) => fillUsage(c, state);
  }
}

export function instrumentAnthropic(client: Obj, defaults: Meta): State {
  const state: State = { defaults, provider: providerOf(client) };
  const start = (body: Obj, meta: Meta): Call => {
    const call = new Call(state.provider, typeof body.model === "string" ? body.model : "", "chat", meta);
    if (typeof body.service_tier === "string" && body.service_tier !== "auto") call.serviceTier = body.service_tier;
    return call;
  };
  const finish = (call: Call, result: unknown): void => {
    observeResult(result, call, (value) => {
      const data = value as Obj | null;
      if (data !== null && typeof data === "object" && observeStainlessStream(data, call, new MessagesObserver())) return;
      if (data !== null && typeof data === "object") {
        if (data.model) call.model = String(data.model);
        if (data.id) call.providerRequestId = String(data.id);
        const usage = data.usage;
        call.deferred = (c) => fillUsage(c, usage);
      }
      complete(call);
    });
  };
  for (const path of ["messages", "beta.messages"]) patchMethod(resource(client, path), "create", state, start, finish);
  return state;
}
