/**
 * `openai` clients (and OpenAI-compatible base URLs, Azure). Seam: the resource methods on the
 * client instance (`client.chat.completions.create`, `responses.create`, `embeddings.create`,
 * `completions.create`). The SDK's `.stream()`, `.parse()` and `runTools()` helpers call these
 * same `create` methods, so they are observed too.
 */

import { settings } from "../config.js";
import type { Meta } from "../context.js";
import { Call } from "../event.js";
import {
  complete,
  type HttpResponse,
  observeResult,
  observeStainlessStream,
  patchMethod,
  type Retry,
  resource,
  type State,
  type StreamObserver,
} from "../observe.js";
import {
  chatUsage,
  embeddingUsage,
  GATEWAY_PROVIDER,
  gatewayForHost,
  gatewayFromHeaders,
  hostKey,
  INCLUDE_USAGE_PROVIDERS,
  INCLUDE_USAGE_UNKNOWN_HOSTS,
  providerForHost,
  rejectsStreamOptions,
  responsesUsage,
} from "../usage/openai.js";

type Obj = Record<string, unknown>;

export function isOpenAI(client: unknown): boolean {
  const c = client as Obj | null;
  return (
    c !== null &&
    typeof c === "object" &&
    typeof (resource(c, "chat.completions") as Obj | null)?.create === "function" &&
    typeof c.baseURL === "string"
  );
}

/** What a wrapped OpenAI client talks to: the provider, its base URL host, a well-known gateway. */
interface Target {
  provider: string;
  host: string;
  gateway: string | null;
}

function targetOf(client: Obj): Target {
  const name = (client.constructor as { name?: string } | undefined)?.name ?? "";
  let url: URL | null = null;
  try {
    url = new URL(String(client.baseURL));
  } catch {
    url = null;
  }
  const host = url === null ? "" : hostKey(url);
  const gateway = url === null ? null : gatewayForHost(url.hostname);
  if (name === "AzureOpenAI" || typeof client.deploymentName === "string") return { provider: "azure", host, gateway };
  const provider = url === null ? GATEWAY_PROVIDER : providerForHost(url.hostname, url.port || null, settings().providerHosts);
  return { provider, host, gateway };
}

/**
 * Hosts that answered a streamed chat call with 400/422 naming `stream_options`: never sent it
 * again in this process (the refused call itself was retried once without it).
 */
const refused = new Set<string>();

/** Forget the hosts learned to refuse `stream_options` (tests: a port may come back). */
export function forgetRefusals(): void {
  refused.clear();
}

/** Whether to add `stream_options.include_usage` to a streamed chat call to `host`. */
function injectUsage(provider: string, host: string): boolean {
  const chosen = settings().includeUsageHosts[host];
  if (chosen !== undefined) return chosen && !refused.has(host);
  if (INCLUDE_USAGE_PROVIDERS.has(provider)) return true;
  return provider === GATEWAY_PROVIDER && INCLUDE_USAGE_UNKNOWN_HOSTS && !refused.has(host);
}

/** A gateway named by a response header, and its own cost (LiteLLM's header). */
function seeHeaders(call: Call, response: HttpResponse): void {
  if (call.gatewayHost === null) return;
  const streamed = (response.headers.get("content-type") ?? "").startsWith("text/event-stream");
  const [gateway, cost] = gatewayFromHeaders(response.headers, streamed);
  if (gateway !== null && call.gateway === null) call.gateway = gateway;
  if (cost !== null) call.providerCost = cost;
}

/** Chat chunks: latest usage (Groq: `x_groq.usage`); the injected usage-only chunk is hidden. */
class ChatObserver implements StreamObserver {
  seen = false;
  usage: unknown = null;
  constructor(
    readonly provider: string,
    public hide: boolean,
    readonly keepModel: boolean,
  ) {}
  onItem(call: Call, item: unknown): boolean {
    const chunk = item as Obj;
    if (!this.seen) {
      this.seen = true;
      if (chunk.model && !this.keepModel) call.model = String(chunk.model);
      if (chunk.service_tier) call.serviceTier = String(chunk.service_tier);
      if (chunk.id) call.providerRequestId = String(chunk.id);
    }
    let usage = chunk.usage;
    if ((usage === null || usage === undefined) && this.provider === "groq") usage = (chunk.x_groq as Obj | undefined)?.usage;
    if (usage !== null && usage !== undefined) {
      this.usage = usage;
      return this.hide && Array.isArray(chunk.choices) && chunk.choices.length === 0;
    }
    return false;
  }
  onEnd(call: Call): void {
    const usage = this.usage;
    if (usage !== null) call.deferred = (c) => fillChat(c, usage);
  }
}

/** Responses streaming: usage arrives on the final event's `response`. */
class ResponsesObserver implements StreamObserver {
  final: Obj | null = null;
  onItem(call: Call, item: unknown): boolean {
    const event = item as Obj;
    const type = event.type;
    const response = event.response as Obj | undefined;
    if (response?.model) call.model = String(response.model);
    if (type === "response.completed" || type === "response.incomplete" || type === "response.failed") this.final = event;
    else if (type === "error") {
      call.errorType = String(event.code ?? "error");
      this.final = this.final ?? event;
    }
    return false;
  }
  onEnd(call: Call): void {
    const final = this.final;
    if (final === null) return;
    const response = final.response as Obj | undefined;
    if (response !== undefined) fillResponse(call, response);
    if (final.type === "response.failed" || final.type === "error") {
      call.status = "error";
      call.errorType = String((response?.error as Obj | undefined)?.code ?? call.errorType ?? "response.failed");
    }
  }
}

function fillChat(call: Call, usage: unknown): void {
  const [normalised, cost] = chatUsage(usage, call.provider);
  call.usage = normalised;
  if (cost !== null) call.providerCost = cost; // else keep a gateway's cost from its response header
}

function fillResponse(call: Call, response: Obj): void {
  if (response.model) call.model = String(response.model);
  const usage = response.usage;
  const tools = response.tool_usage;
  call.deferred = (c) => {
    c.usage = responsesUsage(usage, tools);
  };
  if (response.service_tier) call.serviceTier = String(response.service_tier);
  if (response.id) call.providerRequestId = String(response.id);
}

type Kind = "chat" | "completion" | "responses" | "embedding";

function adapter(state: State, target: Target, kind: Kind) {
  const start = (body: Obj, meta: Meta): Call => {
    let model = typeof body.model === "string" ? body.model : "";
    let keepModel = false;
    const aliases = settings().modelAliases;
    if (state.provider === "azure" && aliases[model]) {
      // The model argument is a deployment name: the configured alias wins over the response.
      keepModel = true;
      model = aliases[model] as string;
    }
    const call = new Call(state.provider, model, kind, meta);
    if (state.provider === GATEWAY_PROVIDER) {
      call.gatewayHost = target.host;
      call.gateway = target.gateway;
    }
    if (typeof body.service_tier === "string" && body.service_tier !== "auto") call.serviceTier = body.service_tier;
    if (body.stream === true && (kind === "chat" || kind === "completion")) {
      let hide = false;
      if ((body.stream_options === undefined || body.stream_options === null) && injectUsage(state.provider, target.host)) {
        body.stream_options = { include_usage: true };
        hide = true;
      }
      observers.set(call, new ChatObserver(state.provider, hide, keepModel));
    } else if (keepModel) {
      keep.add(call);
    }
    return call;
  };
  /** A gateway refusing the injected `stream_options`: remember the host, make the caller's call once more as they wrote it. */
  const retry: Retry = (call, request, error) => {
    const observer = observers.get(call);
    if (observer === undefined || !observer.hide) return false;
    if (request === null) return true; // the SDK injected stream_options: a refusal can be retried
    const e = error as { status?: unknown; message?: unknown } | null;
    if (!rejectsStreamOptions(e?.status, String(e?.message ?? ""))) return false;
    refused.add(target.host);
    delete request.stream_options;
    observer.hide = false;
    return true;
  };
  const finish = (call: Call, result: unknown): void => {
    const onResponse = state.provider === GATEWAY_PROVIDER ? (response: HttpResponse) => seeHeaders(call, response) : undefined;
    observeResult(
      result,
      call,
      (value) => {
        const data = value as Obj | null;
        if (data === null || typeof data !== "object") {
          complete(call);
          return;
        }
        if (typeof (data as { iterator?: unknown }).iterator === "function" && "controller" in data) {
          const observer =
            observers.get(call) ?? (kind === "responses" ? new ResponsesObserver() : new ChatObserver(state.provider, false, false));
          observers.delete(call);
          observeStainlessStream(data, call, observer);
          return;
        }
        if (kind === "responses") fillResponse(call, data);
        else if (kind === "embedding") {
          if (data.model) call.model = String(data.model);
          const usage = data.usage;
          call.deferred = (c) => {
            c.usage = embeddingUsage(usage);
          };
        } else {
          if (data.model && !keep.has(call)) call.model = String(data.model);
          const usage = data.usage;
          call.deferred = (c) => fillChat(c, usage);
          if (data.service_tier) call.serviceTier = String(data.service_tier);
          if (data.id) call.providerRequestId = String(data.id);
        }
        keep.delete(call);
        complete(call);
      },
      onResponse,
    );
  };
  return [start, finish, retry] as const;
}

const observers = new WeakMap<Call, ChatObserver>();
const keep = new WeakSet<Call>();

const METHODS: ReadonlyArray<[string, string, Kind]> = [
  ["chat.completions", "create", "chat"],
  ["completions", "create", "completion"],
  ["responses", "create", "responses"],
  ["embeddings", "create", "embedding"],
];

export function instrumentOpenAI(client: Obj, defaults: Meta): State {
  const target = targetOf(client);
  const state: State = { defaults, provider: target.provider };
  for (const [path, method, kind] of METHODS) {
    const [start, finish, retry] = adapter(state, target, kind);
    patchMethod(resource(client, path), method, state, start, finish, retry);
  }
  // withOptions() makes a new client: observe it too, with the same state.
  const withOptions = client.withOptions;
  if (typeof withOptions === "function") {
    client.withOptions = function (this: unknown, ...args: unknown[]) {
      const copy = (withOptions as (...a: unknown[]) => Obj).apply(this, args);
      try {
        instrumentOpenAI(copy, state.defaults);
      } catch {
        // the copy keeps working unobserved
      }
      return copy;
    };
  }
  return state;
}
