/**
 * The raw table (prices.json, copied from pricing/prices.yaml by `make sync-pricing`, which
 * validates it first) → checked, precomputed structures. Each problem names entry and field.
 */

import { type Dec, ONE, parseDec } from "../decimal.js";
import { PricingError } from "../errors.js";
import { RATE_KEY_SET } from "./dims.js";

export type Rates = Map<string, Dec>;

export interface Tier {
  name: string;
  multiplier: Dec | null;
  rates: Rates;
  images: Map<string, Dec> | null;
  longContext: Rates | null;
}
export interface LongContext {
  above: number;
  rates: Rates;
  images: Map<string, Dec> | null;
}
export interface Derive {
  source: string;
  multiplier: Dec;
}
export interface Period {
  start: number; // ms since epoch
  rates: Rates;
  images: Map<string, Dec> | null;
  longContext: LongContext | null;
  tiers: Map<string, Tier>;
}
export interface Entry {
  id: string;
  provider: string;
  model: string;
  aliases: string[];
  prefixes: string[];
  periods: Period[];
  tiers: Map<string, Tier>;
  regions: Map<string, Map<string, Dec>>;
  derive: Map<string, Derive>;
}
export interface Delegate {
  prefix: string | null;
  to: string;
  keepPrefix: boolean;
  dotsToDashes: boolean;
}
export interface Provider {
  name: string;
  aliases: string[];
  stripPrefixes: string[];
  stripSuffixes: string[];
  geoPrefixes: string[];
  defaultRegion: string | null;
  regions: Map<string, Dec>;
  tiers: Map<string, Tier>;
  derive: Map<string, Derive>;
  delegate: Delegate[];
}
export interface CompiledTable {
  version: string;
  providers: Map<string, Provider>;
  entries: Entry[];
}

type Raw = Record<string, unknown>;
const SKIP_PERIOD = new Set(["from", "images", "long_context", "tiers", "notes"]);

function fail(entry: string | null, field: string, message: string): PricingError {
  const where = [entry === null ? null : `entry '${entry}'`, `field '${field}'`].filter(Boolean);
  return new PricingError(`${where.join(", ")}: ${message}`);
}

function obj(entry: string | null, path: string, value: unknown): Raw {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw fail(entry, path, "must be a mapping");
  }
  return value as Raw;
}

function dec(entry: string | null, path: string, value: unknown): Dec {
  const parsed = typeof value === "string" ? parseDec(value) : null;
  if (parsed === null) throw fail(entry, path, `must be a decimal string such as "2.50", not ${JSON.stringify(value)}`);
  return parsed;
}

function strs(value: unknown): string[] {
  return Array.isArray(value) ? value.map((v) => String(v)) : [];
}

function rates(entry: string | null, path: string, raw: Raw, skip: ReadonlySet<string>): Rates {
  const out: Rates = new Map();
  for (const [key, value] of Object.entries(raw)) {
    if (skip.has(key)) continue;
    if (!RATE_KEY_SET.has(key)) throw fail(entry, `${path}.${key}`, "unknown rate");
    out.set(key, dec(entry, `${path}.${key}`, value));
  }
  return out;
}

function images(entry: string | null, path: string, raw: unknown): Map<string, Dec> | null {
  if (raw === undefined || raw === null) return null;
  const table = obj(entry, path, raw);
  if (!("*" in table)) throw fail(entry, path, 'needs a "*" price');
  return new Map(Object.entries(table).map(([k, v]) => [k.toLowerCase(), dec(entry, `${path}.${k}`, v)]));
}

export function timestamp(entry: string | null, path: string, value: unknown): number {
  if (typeof value !== "string") throw fail(entry, path, "must be an ISO date or timestamp");
  const text = /^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00Z` : value;
  const withZone = /(Z|[+-]\d{2}:?\d{2})$/.test(text) ? text : `${text}Z`;
  const ms = Date.parse(withZone);
  if (Number.isNaN(ms)) throw fail(entry, path, `must be an ISO date or timestamp, not ${JSON.stringify(value)}`);
  return ms;
}

function tiers(entry: string | null, path: string, raw: unknown): Map<string, Tier> {
  const out = new Map<string, Tier>();
  if (raw === undefined || raw === null) return out;
  for (const [name, value] of Object.entries(obj(entry, path, raw))) {
    const tpath = `${path}.${name}`;
    const table = obj(entry, tpath, value);
    const hasMult = table.multiplier !== undefined && table.multiplier !== null;
    const rawRates = table.rates;
    if (hasMult === (rawRates !== undefined && rawRates !== null)) {
      throw fail(entry, tpath, "needs exactly one of 'multiplier' or 'rates'");
    }
    let tierRates: Rates = new Map();
    let tierImages: Map<string, Dec> | null = null;
    if (!hasMult) {
      const rt = obj(entry, `${tpath}.rates`, rawRates);
      tierRates = rates(entry, `${tpath}.rates`, rt, new Set(["images"]));
      tierImages = images(entry, `${tpath}.rates.images`, rt.images);
    }
    const lc = table.long_context;
    out.set(name, {
      name,
      multiplier: hasMult ? dec(entry, `${tpath}.multiplier`, table.multiplier) : null,
      rates: tierRates,
      images: tierImages,
      longContext: lc === undefined || lc === null ? null : rates(entry, `${tpath}.long_context`, obj(entry, tpath, lc), new Set()),
    });
  }
  return out;
}

function derive(entry: string | null, path: string, raw: unknown): Map<string, Derive> {
  const out = new Map<string, Derive>();
  if (raw === undefined || raw === null) return out;
  for (const [key, value] of Object.entries(obj(entry, path, raw))) {
    const table = obj(entry, `${path}.${key}`, value);
    out.set(key, { source: String(table.from), multiplier: dec(entry, `${path}.${key}.multiplier`, table.multiplier) });
  }
  return out;
}

function regionMap(entry: string | null, path: string, raw: unknown): Map<string, Dec> {
  const out = new Map<string, Dec>();
  if (raw === undefined || raw === null) return out;
  for (const [k, v] of Object.entries(obj(entry, path, raw))) out.set(k.toLowerCase(), dec(entry, `${path}.${k}`, v));
  return out;
}

function compileProvider(name: string, raw: unknown): Provider {
  const path = `providers.${name}`;
  const table = obj(null, path, raw ?? {});
  const delegates = Array.isArray(table.delegate) ? table.delegate : [];
  return {
    name,
    aliases: strs(table.aliases).map((a) => a.toLowerCase()),
    stripPrefixes: strs(table.strip_prefixes).map((a) => a.toLowerCase()),
    stripSuffixes: strs(table.strip_suffixes).map((a) => a.toLowerCase()),
    geoPrefixes: strs(table.geo_prefixes).map((a) => a.toLowerCase()),
    defaultRegion: typeof table.default_region === "string" ? table.default_region.toLowerCase() : null,
    regions: regionMap(null, `${path}.regions`, table.regions),
    tiers: tiers(null, `${path}.tiers`, table.tiers),
    derive: derive(null, `${path}.derive`, table.derive),
    delegate: delegates.map((d: unknown, i: number) => {
      const dt = obj(null, `${path}.delegate[${i}]`, d);
      return {
        prefix: typeof dt.prefix === "string" ? dt.prefix.toLowerCase() : null,
        to: String(dt.to),
        keepPrefix: dt.keep_prefix === true,
        dotsToDashes: dt.dots_to_dashes === true,
      };
    }),
  };
}

function compileEntry(raw: unknown, index: number): Entry {
  const table = obj(`entries[${index}]`, "", raw);
  const id = typeof table.id === "string" ? table.id : `entries[${index}]`;
  const provider = String(table.provider);
  if (!Array.isArray(table.prices) || table.prices.length === 0) {
    throw fail(id, "prices", "must be a non-empty list of dated rate sets");
  }
  const periods: Period[] = table.prices.map((item: unknown, i: number) => {
    const ppath = `prices[${i}]`;
    const pt = obj(id, ppath, item);
    const lcRaw = pt.long_context;
    let longContext: LongContext | null = null;
    if (lcRaw !== undefined && lcRaw !== null) {
      const lt = obj(id, `${ppath}.long_context`, lcRaw);
      longContext = {
        above: Number(lt.above),
        rates: rates(id, `${ppath}.long_context`, lt, new Set(["above", "images"])),
        images: images(id, `${ppath}.long_context.images`, lt.images),
      };
    }
    return {
      start: timestamp(id, `${ppath}.from`, pt.from),
      rates: rates(id, ppath, pt, SKIP_PERIOD),
      images: images(id, `${ppath}.images`, pt.images),
      longContext,
      tiers: tiers(id, `${ppath}.tiers`, pt.tiers),
    };
  });
  const regions = new Map<string, Map<string, Dec>>();
  if (table.regions !== undefined && table.regions !== null) {
    for (const [prov, value] of Object.entries(obj(id, "regions", table.regions))) {
      regions.set(prov.toLowerCase(), regionMap(id, `regions.${prov}`, value));
    }
  }
  return {
    id,
    provider,
    model: String(table.model),
    aliases: strs(table.aliases),
    prefixes: strs(table.prefixes),
    periods,
    tiers: tiers(id, "tiers", table.tiers),
    regions,
    derive: derive(id, "derive", table.derive),
  };
}

export function compileTable(raw: unknown): CompiledTable {
  const table = obj(null, "", raw);
  if (typeof table.version !== "string" || !table.version) throw fail(null, "version", "must be a string");
  const providers = new Map<string, Provider>();
  for (const [name, value] of Object.entries(obj(null, "providers", table.providers ?? {}))) {
    providers.set(name, compileProvider(name, value));
  }
  if (!Array.isArray(table.entries)) throw fail(null, "entries", "must be a list");
  return { version: table.version, providers, entries: table.entries.map(compileEntry) };
}

export { ONE };
