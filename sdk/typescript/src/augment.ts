/**
 * Per-call `costobs: { feature, promptVersion, … }` in the request types of the provider SDKs,
 * so the documented call shape type-checks. These augment the optional peer packages' types;
 * a project without one of them needs `skipLibCheck` (the default of most templates). The
 * type-only imports bring the augmented modules into the declaration build (erased from the JS).
 */

import type {} from "@anthropic-ai/sdk/resources/messages/messages";
import type {} from "openai/resources/chat/completions/completions";
import type {} from "openai/resources/completions";
import type {} from "openai/resources/embeddings";
import type {} from "openai/resources/responses/responses";
import type { Metadata } from "./context.js";

declare module "openai/resources/chat/completions/completions" {
  interface ChatCompletionCreateParamsBase {
    /** CostObs per-call metadata; removed before the request is sent. */
    costobs?: Metadata;
  }
}
declare module "openai/resources/completions" {
  interface CompletionCreateParamsBase {
    /** CostObs per-call metadata; removed before the request is sent. */
    costobs?: Metadata;
  }
}
declare module "openai/resources/responses/responses" {
  interface ResponseCreateParamsBase {
    /** CostObs per-call metadata; removed before the request is sent. */
    costobs?: Metadata;
  }
}
declare module "openai/resources/embeddings" {
  interface EmbeddingCreateParams {
    /** CostObs per-call metadata; removed before the request is sent. */
    costobs?: Metadata;
  }
}
declare module "@anthropic-ai/sdk/resources/messages/messages" {
  interface MessageCreateParamsBase {
    /** CostObs per-call metadata; removed before the request is sent. */
    costobs?: Metadata;
  }
}
