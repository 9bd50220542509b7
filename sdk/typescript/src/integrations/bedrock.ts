/**
 * `@aws-sdk/client-bedrock-runtime`: `client.send(new ConverseCommand(...))` and
 * `ConverseStreamCommand` (also through the aggregated `BedrockRuntime` client's `converse`/
 * `converseStream`, which call `send`). Per-call `costobs` is taken out of the command's input
 * (a new command of the same class is sent, the caller's is left as it was).
 */

import { settings } from "../config.js";
import { effective, type Meta, takeCallMeta } from "../context.js";
import { Call } from "../event.js";
import { report, safe } from "../guard.js";
import { complete, fail, observeItems, resource, type State, type StreamObserver } from "../observe.js";
import { converseUsage, resolveModel } from "../usage/bedrock.js";

type Obj = Record<string, unknown>;

export function isBedrock(client: unknown): boolean {
  const c = client as Obj | null;
  return c !== null && typeof c === "object" && typeof c.send === "function" && resource(c, "config")?.serviceId === "Bedrock Runtime";
}

function fill(call: Call, usage: unknown, tier: unknown): void {
  if (usage !== undefined) {
    call.deferred = (c) => {
      c.usage = converseUsage(usage);
    };
  }
  const t = (tier as Obj | undefined)?.type;
  if (t) call.serviceTier = String(t);
}

class ConverseStreamObserver implements StreamObserver {
  usage: unknown = undefined;
  tier: unknown = undefined;
  onItem(_call: Call, item: unknown): boolean {
    const metadata = (item as Obj).metadata as Obj | undefined;
    if (metadata !== undefined) {
      this.usage = metadata.usage;
      this.tier = metadata.serviceTier;
    }
    return false;
  }
  onEnd(call: Call): void {
    fill(call, this.usage, this.tier);
  }
}

export function instrumentBedrock(client: Obj, defaults: Meta): State {
  const state: State = { defaults, provider: "bedrock" };
  const send = client.send as (...a: unknown[]) => Promise<unknown>;
  // The client's region is a provider function in the AWS SDK: resolved once, in the background.
  let region: string | null = null;
  safe(() => {
    const r = resource(client, "config")?.region;
    if (typeof r === "string") region = r;
    else if (typeof r === "function") {
      Promise.resolve((r as () => unknown)()).then(
        (value) => {
          if (typeof value === "string") region = value;
        },
        () => undefined,
      );
    }
  });
  client.send = function (this: unknown, command: unknown, ...rest: unknown[]) {
    const cmd = command as { constructor: new (input: unknown) => unknown; input?: unknown } | null;
    const kind = (cmd?.constructor as { name?: string } | undefined)?.name;
    if (kind !== "ConverseCommand" && kind !== "ConverseStreamCommand") return send.call(this, command, ...rest);
    let call: Call | null = null;
    let sent: unknown = command;
    try {
      const [input, callMeta] = takeCallMeta(cmd?.input as Obj);
      if (callMeta !== null) sent = new (cmd as { constructor: new (input: unknown) => unknown }).constructor(input);
      if (settings().enabled) {
        const [model, geo] = resolveModel(String((input as Obj).modelId ?? ""), settings().modelAliases);
        call = new Call(state.provider, model, "chat", effective(state.defaults, callMeta));
        call.region = geo ?? region;
      }
    } catch (error) {
      report(error);
      call = null;
    }
    const result = send.call(this, sent, ...rest);
    if (call === null) return result;
    const c = call;
    return result.then(
      (output) => {
        safe(() => {
          const out = output as Obj;
          if (kind === "ConverseStreamCommand" && out.stream !== undefined) {
            out.stream = observeItems(out.stream as AsyncIterable<unknown>, c, new ConverseStreamObserver());
            return;
          }
          fill(c, out.usage, out.serviceTier);
          const requestId = (out.$metadata as Obj | undefined)?.requestId;
          if (requestId) c.providerRequestId = String(requestId);
          complete(c);
        });
        return output;
      },
      (error: unknown) => {
        safe(() => fail(c, error));
        throw error;
      },
    );
  };
  return state;
}
