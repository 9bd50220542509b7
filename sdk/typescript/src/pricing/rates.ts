/**
 * The rates in force for one (entry, period, tier, long context, region), in the Python
 * engine's order (sdk/python/costobs/pricing/_rates.py): period rates, long-context rates,
 * tier rates, derive rules, tier multiplier on token rates, region multiplier on every rate.
 * Org discounts are applied by the writer when it re-prices, not in the SDK.
 */

import { type Dec, exactAtto, mul, ONE } from "../decimal.js";
import type { Entry, Period, Provider, Rates, Tier } from "./compile.js";
import { RATE_KEYS, TOKEN_RATE_KEYS } from "./dims.js";

export interface Dim {
  key: string;
  field: string;
  /** Effective rate per published unit (per 1M tokens, per minute, …). */
  rate: Dec;
  divisor: number;
  /** Exact price of one unit in atto-USD when that is an integer (the fast path). */
  atto: bigint | null;
  /** Output with a distinct reasoning rate: charge output_tokens − reasoning_tokens. */
  split: boolean;
}

export interface RateSet {
  byField: Map<string, Dim>;
  images: Map<string, Dec> | null;
  imagesAtto: Map<string, bigint | null> | null;
  fields: Set<string>;
  tier: string | null;
  longContext: boolean;
}

const UNIT_PLACES: Record<number, number> = { 1: 0, 1000: 3, 1000000: 6 };

export function findTier(
  name: string | null,
  period: Period,
  entry: Entry,
  providers: Map<string, Provider>,
  requestProvider: string,
): Tier | null {
  if (name === null) return null;
  for (const tiers of [period.tiers, entry.tiers, providers.get(requestProvider)?.tiers, providers.get(entry.provider)?.tiers]) {
    const tier = tiers?.get(name);
    if (tier !== undefined) return tier;
  }
  return null;
}

export function regionMultiplier(entry: Entry, providers: Map<string, Provider>, requestProvider: string, regionKey: string | null): Dec {
  const table = entry.regions.get(requestProvider) ?? providers.get(requestProvider)?.regions;
  if (table === undefined || table.size === 0 || regionKey === null) return ONE;
  return table.get(regionKey) ?? table.get("*") ?? ONE;
}

export function resolve(
  entry: Entry,
  period: Period,
  providers: Map<string, Provider>,
  tier: Tier | null,
  longContext: boolean,
  requestProvider: string,
  regionKey: string | null,
): RateSet {
  const rates: Rates = new Map(period.rates);
  let images = period.images !== null ? new Map(period.images) : null;
  const lc = period.longContext;
  if (longContext && lc !== null) {
    for (const [k, v] of lc.rates) rates.set(k, v);
    if (lc.images !== null) images = new Map(lc.images);
  }
  if (tier !== null && tier.multiplier === null) {
    const tierRates = longContext && tier.longContext !== null && tier.longContext.size > 0 ? tier.longContext : tier.rates;
    for (const [k, v] of tierRates) rates.set(k, v);
    if (tier.images !== null) images = new Map(tier.images);
  }
  const derive = new Map(providers.get(entry.provider)?.derive ?? []);
  for (const [k, v] of entry.derive) derive.set(k, v);
  for (const [key, rule] of derive) {
    const source = rates.get(rule.source);
    if (!rates.has(key) && source !== undefined) rates.set(key, mul(source, rule.multiplier));
  }
  const tokenMult = tier !== null && tier.multiplier !== null ? tier.multiplier : ONE;
  const allMult = regionMultiplier(entry, providers, requestProvider, regionKey);
  const byField = new Map<string, Dim>();
  const fields = new Set<string>(["reasoning_tokens", "image_size", "image_quality"]);
  for (const [key, field, unit] of RATE_KEYS) {
    let rate = rates.get(key);
    if (rate === undefined) continue;
    if (TOKEN_RATE_KEYS.has(key)) rate = mul(rate, tokenMult);
    rate = mul(rate, allMult);
    const places = UNIT_PLACES[unit];
    const atto = places === undefined ? null : exactAtto({ c: rate.c, s: rate.s + places });
    byField.set(field, { key, field, rate, divisor: unit, atto, split: key === "output" && rates.has("reasoning") });
    fields.add(field);
  }
  let imagesAtto: Map<string, bigint | null> | null = null;
  if (images !== null) {
    images = new Map([...images].map(([k, v]) => [k, mul(v, allMult)]));
    imagesAtto = new Map([...images].map(([k, v]) => [k, exactAtto(v)]));
    fields.add("images");
  }
  return {
    byField,
    images,
    imagesAtto,
    fields,
    tier: tier !== null ? tier.name : null,
    longContext: longContext && lc !== null,
  };
}
