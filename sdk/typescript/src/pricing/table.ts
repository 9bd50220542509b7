/** `PriceTable.quote`: the pure pricing engine (no I/O), exact in atto-USD (bigint). */

import { attoOf, type Dec, formatAtto, parseDec } from "../decimal.js";
import { PricingError } from "../errors.js";
import { COUNT_FIELDS, DECIMAL_FIELDS, TEXT_FIELDS, USAGE_FIELDS } from "../fields.js";
import { type CompiledTable, compileTable, type Entry, type Period, type Provider } from "./compile.js";
import { PROMPT_FIELDS } from "./dims.js";
import { type Match, Matcher, ProviderIndex } from "./match.js";
import { findTier, type RateSet, resolve } from "./rates.js";

const MAX_COUNT = 1_000_000_000_000n;
const MATCH_CACHE_SIZE = 8192;
const STANDARD_TIERS = new Set(["", "default", "standard", "auto", "on_demand", "on-demand", "scale"]);
/**
 * The table's provider for calls through a gateway or any unknown OpenAI-style host
 * (`gateway_provider` in sdk/providers.json; a test pins them equal): priced as the model it names.
 */
export const GATEWAY_PROVIDER = "openai_compatible";
/** The provider whose model ids are `<vendor>.<model>` (canonical model: the vendor's own). */
const VENDOR_PREFIXED = "bedrock";

export interface QuoteRequest {
  provider: string;
  model: string;
  usage: Readonly<Record<string, unknown>>;
  /** When the call happened (ms since epoch or a Date); picks the price period. Default: now. */
  at?: number | Date;
  serviceTier?: string | null;
  batch?: boolean;
  region?: string | null;
}

export interface CallQuoteRequest extends QuoteRequest {
  /** The call went through a gateway (the event names a `gateway_host`). */
  gateway?: boolean;
}

export interface Quote {
  /** Exact cost as a decimal string ("0.0027"); "0" for an unknown model. */
  costUsd: string;
  /** Exact cost in 1e-18 USD. */
  costAtto: bigint;
  entry: string | null;
  unpriced: boolean;
  version: string;
  /** Per-dimension cost (rate key → decimal string); sums to costUsd. */
  readonly breakdown: Record<string, string>;
  serviceTier: string | null;
  longContext: boolean;
  /** Usage fields with a non-zero count that the matched entry has no rate for. */
  unrated: string[];
  /** The provider to record the call under (`quoteCall`: the matched entry's for a gateway call). */
  provider: string;
  /** The model as sent. */
  model: string;
  /**
   * The model across clouds and spellings: the matched entry's model (`claude-sonnet-4-5` for
   * Anthropic, Bedrock profiles, Vertex `@` versions), else the model as sent.
   */
  canonicalModel: string;
}

interface Parsed {
  counts: Map<string, bigint>;
  seconds: Dec | null;
  size: string | null;
  quality: string | null;
}

function count(key: string, value: unknown): bigint {
  let n: bigint;
  if (typeof value === "number") {
    if (!Number.isInteger(value)) throw new PricingError(`usage field '${key}' must be a whole count, not ${value}`);
    n = BigInt(value);
  } else if (typeof value === "bigint") {
    n = value;
  } else if (typeof value === "string" && /^\s*\d+(\.0*)?\s*$/.test(value)) {
    n = BigInt(value.trim().split(".")[0] as string);
  } else {
    throw new PricingError(`usage field '${key}' must be a count, not ${JSON.stringify(String(value))}`);
  }
  if (n < 0n || n > MAX_COUNT) throw new PricingError(`usage field '${key}' out of range 0..1e12: ${n}`);
  return n;
}

/** Validate usage; keep the non-zero quantities plus image size and quality. */
export function parseUsage(usage: Readonly<Record<string, unknown>>): Parsed {
  const out: Parsed = { counts: new Map(), seconds: null, size: null, quality: null };
  for (const key in usage) {
    const value = usage[key];
    if (COUNT_FIELDS.has(key)) {
      if (value === undefined || value === null || value === 0) continue;
      const n = count(key, value);
      if (n !== 0n) out.counts.set(key, n);
    } else if (DECIMAL_FIELDS.has(key)) {
      if (value === undefined || value === null || value === 0) continue;
      const d = typeof value === "string" || typeof value === "number" ? parseDec(String(value)) : null;
      if (d === null) throw new PricingError(`usage field '${key}' must be a finite, non-negative decimal`);
      if (d.c !== 0n) out.seconds = d;
    } else if (TEXT_FIELDS.has(key)) {
      if (value === undefined || value === null) continue;
      if (typeof value !== "string") throw new PricingError(`usage field '${key}' must be a string`);
      if (key === "image_size") out.size = value.trim().toLowerCase();
      else out.quality = value.trim().toLowerCase();
    } else if (!USAGE_FIELDS.has(key)) {
      throw new PricingError(`unknown usage field '${key}' (known: ${[...USAGE_FIELDS].sort().join(", ")})`);
    }
  }
  if ((out.counts.get("reasoning_tokens") ?? 0n) > (out.counts.get("output_tokens") ?? 0n)) {
    throw new PricingError("reasoning_tokens is part of output_tokens and cannot exceed it");
  }
  return out;
}

export function imagePriceKey(prices: Map<string, unknown>, size: string | null, quality: string | null): string {
  if (size && quality && prices.has(`${size}/${quality}`)) return `${size}/${quality}`;
  if (size && prices.has(size)) return size;
  if (quality && prices.has(quality)) return quality;
  return "*";
}

/** A priced event; the per-dimension breakdown is formatted only when read. */
class PricedQuote implements Quote {
  readonly unpriced = false;
  constructor(
    readonly costAtto: bigint,
    readonly entry: string,
    readonly version: string,
    private readonly parts: Array<[string, bigint]>,
    readonly serviceTier: string | null,
    readonly longContext: boolean,
    readonly unrated: string[],
    public provider: string,
    public model: string,
    readonly canonicalModel: string,
  ) {}
  get costUsd(): string {
    return formatAtto(this.costAtto);
  }
  get breakdown(): Record<string, string> {
    return Object.fromEntries(this.parts.map(([k, v]) => [k, formatAtto(v)]));
  }
}

export class PriceTable {
  readonly version: string;
  private readonly providers: Map<string, Provider>;
  private readonly matcher: Matcher;
  private matchCache = new Map<string, Map<string, Match>>();
  private cached = 0;
  private readonly rateCache = new WeakMap<Period, Map<string, RateSet>>();
  private readonly canonical = new Map<string, string>();

  constructor(compiled: CompiledTable) {
    this.version = compiled.version;
    this.providers = compiled.providers;
    const indexes = new Map<string, ProviderIndex>();
    for (const entry of compiled.entries) {
      let index = indexes.get(entry.provider);
      if (index === undefined) {
        index = new ProviderIndex();
        indexes.set(entry.provider, index);
      }
      index.add(entry);
    }
    for (const index of indexes.values()) index.finish();
    this.matcher = new Matcher(this.providers, indexes);
  }

  static fromData(raw: unknown): PriceTable {
    return new PriceTable(compileTable(raw));
  }

  match(provider: string, model: string): Match {
    let byModel = this.matchCache.get(provider);
    let found = byModel?.get(model);
    if (found === undefined) {
      found = this.matcher.match(provider, model);
      if (this.cached >= MATCH_CACHE_SIZE) {
        this.matchCache = new Map();
        this.cached = 0;
        byModel = undefined;
      }
      if (byModel === undefined) {
        byModel = new Map();
        this.matchCache.set(provider, byModel);
      }
      byModel.set(model, found);
      this.cached += 1;
    }
    return found;
  }

  private period(entry: Entry, at: number): Period {
    const periods = entry.periods;
    let chosen = periods[0] as Period;
    for (const p of periods) {
      if (p.start <= at) chosen = p;
      else break;
    }
    return chosen;
  }

  /** Price one event. An unknown model is "0" and `unpriced`; bad usage throws PricingError. */
  quote(req: QuoteRequest): Quote {
    const parsed = parseUsage(req.usage);
    const match = this.match(req.provider, req.model);
    const entry = match.entry;
    if (entry === null) {
      return {
        costUsd: "0",
        costAtto: 0n,
        entry: null,
        unpriced: true,
        version: this.version,
        breakdown: {},
        serviceTier: null,
        longContext: false,
        unrated: [],
        provider: req.provider,
        model: req.model,
        canonicalModel: req.model,
      };
    }
    const at = req.at === undefined ? Date.now() : typeof req.at === "number" ? req.at : req.at.getTime();
    const period = entry.periods.length === 1 ? (entry.periods[0] as Period) : this.period(entry, at);
    let tierName: string | null = req.batch ? "batch" : req.serviceTier ? req.serviceTier.toLowerCase() : null;
    if (tierName !== null && STANDARD_TIERS.has(tierName)) tierName = null;
    const lc = period.longContext;
    let longContext = false;
    if (lc !== null) {
      let prompt = 0n;
      for (const [name, qty] of parsed.counts) if (PROMPT_FIELDS.has(name)) prompt += qty;
      longContext = prompt > BigInt(lc.above);
    }
    let regionKey = match.geo ?? (req.region ? req.region.toLowerCase() : null);
    if (regionKey === null) regionKey = this.providers.get(match.provider)?.defaultRegion ?? null;
    const key = `${tierName}|${longContext}|${match.provider}|${regionKey}`;
    let byPeriod = this.rateCache.get(period);
    if (byPeriod === undefined) {
      byPeriod = new Map();
      this.rateCache.set(period, byPeriod);
    }
    let rates = byPeriod.get(key);
    if (rates === undefined) {
      const tier = findTier(tierName, period, entry, this.providers, match.provider);
      rates = resolve(entry, period, this.providers, tier, longContext, match.provider, regionKey);
      byPeriod.set(key, rates);
    }
    const parts: Array<[string, bigint]> = [];
    const unrated: string[] = [];
    let total = 0n;
    const reasoning = parsed.counts.get("reasoning_tokens") ?? 0n;
    for (const [field, qty0] of parsed.counts) {
      const dim = rates.byField.get(field);
      if (dim === undefined) {
        if (!rates.fields.has(field)) unrated.push(field);
        continue;
      }
      let qty = qty0;
      if (dim.split) {
        qty -= reasoning;
        if (qty === 0n) continue;
      }
      const amount = dim.atto !== null ? qty * dim.atto : attoOf({ c: qty, s: 0 }, dim.rate, dim.divisor);
      parts.push([dim.key, amount]);
      total += amount;
    }
    if (parsed.seconds !== null) {
      const dim = rates.byField.get("audio_seconds");
      if (dim === undefined) unrated.push("audio_seconds");
      else {
        const amount = attoOf(parsed.seconds, dim.rate, dim.divisor);
        parts.push([dim.key, amount]);
        total += amount;
      }
    }
    const images = parsed.counts.get("images");
    if (images && rates.images !== null && rates.imagesAtto !== null) {
      const pkey = imagePriceKey(rates.images, parsed.size, parsed.quality);
      const atto = rates.imagesAtto.get(pkey) ?? null;
      const amount = atto !== null ? images * atto : attoOf({ c: images, s: 0 }, rates.images.get(pkey) as Dec, 1);
      parts.push(["images", amount]);
      total += amount;
    }
    return new PricedQuote(
      total,
      entry.id,
      this.version,
      parts,
      rates.tier,
      rates.longContext,
      unrated.sort(),
      req.provider,
      req.model,
      this.canonicalModel(entry),
    );
  }

  /**
   * An entry's model across clouds: its `model`; for a Bedrock entry (`<vendor>.<model>`) the
   * vendor's own model when the vendor's API has an entry of exactly that name
   * (`anthropic.claude-sonnet-4-5` is `claude-sonnet-4-5`).
   */
  canonicalModel(entry: Entry): string {
    let found = this.canonical.get(entry.id);
    if (found === undefined) {
      found = entry.model;
      const dot = found.indexOf(".");
      if (entry.provider === VENDOR_PREFIXED && dot >= 0) {
        const name = found.slice(dot + 1);
        const direct = this.match(GATEWAY_PROVIDER, name).entry;
        if (direct !== null && direct.model === name) found = name;
      }
      this.canonical.set(entry.id, found);
    }
    return found;
  }

  /**
   * Price one observed call and say under which provider to record it (the Python engine's
   * `PriceTable.quote_call`, the writer's rule too). A call through a gateway (`gateway: true`)
   * or with the gateway provider is priced as the model it names, as a direct call to the
   * provider of the entry matched (its regions and tiers, the Bedrock geo prefix as region key),
   * so gateway and direct cost the same to the digit; `provider` is then that provider and
   * `model` the model as sent. Any other call is `quote()` unchanged.
   */
  quoteCall(req: CallQuoteRequest): Quote {
    if (req.gateway === true || this.matcher.providerName(req.provider) === GATEWAY_PROVIDER) {
      const match = this.match(GATEWAY_PROVIDER, req.model);
      const entry = match.entry;
      if (entry !== null) {
        const region = match.geo ?? req.region ?? null;
        let q = this.quote({ ...req, provider: entry.provider, model: entry.model, region });
        if (q.unpriced) {
          // an entry id its own provider does not match back: price it here
          q = this.quote({ ...req, provider: GATEWAY_PROVIDER, region });
          q.provider = entry.provider;
        }
        q.model = req.model;
        return q;
      }
    }
    return this.quote(req);
  }
}
