/** google-genai `usageMetadata` → normalised usage (as sdk/python/costobs/_usage/gemini.py). */

import type { Usage } from "../fields.js";
import { clean, g, n } from "./common.js";

function modality(details: unknown, name: string): number {
  let total = 0;
  if (!Array.isArray(details)) return 0;
  for (const item of details) {
    if (String(g(item, "modality") ?? "").toUpperCase() === name) total += n(item, "tokenCount");
  }
  return total;
}

/** Prompt includes cached; candidates exclude thoughts; audio has its own rate. */
export function generateUsage(meta: unknown): Usage {
  const prompt = n(meta, "promptTokenCount");
  const cached = n(meta, "cachedContentTokenCount");
  const audioIn = Math.max(0, modality(g(meta, "promptTokensDetails"), "AUDIO") - modality(g(meta, "cacheTokensDetails"), "AUDIO"));
  const audioOut = modality(g(meta, "candidatesTokensDetails"), "AUDIO");
  const thoughts = n(meta, "thoughtsTokenCount");
  const candidates = n(meta, "candidatesTokenCount");
  return clean({
    input_tokens: Math.max(0, prompt - cached - audioIn) + n(meta, "toolUsePromptTokenCount"),
    cached_input_tokens: cached,
    audio_input_tokens: audioIn,
    output_tokens: Math.max(0, candidates - audioOut) + thoughts,
    reasoning_tokens: thoughts,
    audio_output_tokens: audioOut,
  });
}

export function modelName(model: unknown): string {
  let text = String(model ?? "");
  for (const prefix of ["models/", "publishers/google/models/"]) {
    if (text.startsWith(prefix)) text = text.slice(prefix.length);
  }
  const i = text.lastIndexOf("/models/");
  if (i >= 0) text = text.slice(i + "/models/".length);
  return text;
}
