/**
 * Model matching: (provider, model as sent) → one price-table entry. The same precedence as
 * the Python engine (sdk/python/costobs/pricing/_match.py; pricing/README.md):
 * aliases, prefix normalisation (ARN, strip_prefixes, `<provider>/`, variant suffixes, geo
 * prefix → region key), `ft:` bases, exact id/alias then longest declared prefix/suffix, snapshot
 * suffixes stripped one at a time, then the provider's delegate rules; else unpriced.
 */

import type { Entry, Provider } from "./compile.js";

const SNAPSHOT_SUFFIXES = [
  /@[^@/]*$/,
  /-v\d+(:\d+)?$/,
  /:\d+$/,
  /-\d{4}-\d{2}-\d{2}$/,
  /-\d{8}$/,
  /-\d{2}-\d{2}$/,
  /-\d{3,4}$/,
  /-latest$/,
  /-preview$/,
];

export function stripSnapshot(name: string): string | null {
  for (const pattern of SNAPSHOT_SUFFIXES) {
    const stripped = name.replace(pattern, "");
    if (stripped !== name && stripped) return stripped;
  }
  return null;
}

export interface Match {
  entry: Entry | null;
  /** The (normalised) provider the request went through: its regions and tiers apply. */
  provider: string;
  /** Region key taken from the model id (Bedrock `us.` → `us`), if any. */
  geo: string | null;
}

export class ProviderIndex {
  exact = new Map<string, Entry>();
  prefixes: Array<[string, Entry]> = [];
  suffixes: Array<[string, Entry]> = [];

  add(entry: Entry): void {
    for (const name of [entry.model, ...entry.aliases]) this.exact.set(name.toLowerCase(), entry);
    for (const prefix of entry.prefixes) {
      if (prefix.startsWith("*")) this.suffixes.push([prefix.slice(1).toLowerCase(), entry]);
      else this.prefixes.push([prefix.toLowerCase(), entry]);
    }
  }

  finish(): void {
    // Longest first; for equal lengths the later one first (stable sort of the reversed list).
    this.prefixes = [...this.prefixes].reverse().sort((a, b) => b[0].length - a[0].length);
    this.suffixes = [...this.suffixes].reverse().sort((a, b) => b[0].length - a[0].length);
  }

  find(name: string): Entry | null {
    const entry = this.exact.get(name);
    if (entry !== undefined) return entry;
    for (const [prefix, e] of this.prefixes) if (name.startsWith(prefix)) return e;
    for (const [suffix, e] of this.suffixes) if (name.endsWith(suffix)) return e;
    return null;
  }
}

export class Matcher {
  private readonly providerNames = new Map<string, string>();

  constructor(
    private readonly providers: Map<string, Provider>,
    private readonly indexes: Map<string, ProviderIndex>,
  ) {
    for (const [name, prov] of providers) {
      this.providerNames.set(name, name);
      for (const alias of prov.aliases) if (!this.providerNames.has(alias)) this.providerNames.set(alias, name);
    }
  }

  providerName(provider: string): string {
    const p = provider.trim().toLowerCase();
    return this.providerNames.get(p) ?? p;
  }

  match(provider: string, model: string): Match {
    const p = this.providerName(provider);
    return this.matchIn(p, model.trim().toLowerCase(), p, null, 0);
  }

  private matchIn(p: string, name: string, request: string, geo: string | null, depth: number): Match {
    const prov = this.providers.get(p);
    if (name.startsWith("arn:") && name.includes("/")) name = name.slice(name.lastIndexOf("/") + 1);
    if (prov !== undefined) {
      for (const prefix of prov.stripPrefixes) {
        if (name.startsWith(prefix) && name.length > prefix.length) {
          name = name.slice(prefix.length);
          break;
        }
      }
    }
    if (name.startsWith(`${p}/`)) name = name.slice(p.length + 1);
    if (prov !== undefined) {
      for (const suffix of prov.stripSuffixes) {
        if (name.endsWith(suffix) && name.length > suffix.length) {
          name = name.slice(0, -suffix.length);
          break;
        }
      }
      for (const prefix of prov.geoPrefixes) {
        if (name.startsWith(prefix)) {
          geo = prefix.replace(/\.+$/, "");
          name = name.slice(prefix.length);
          break;
        }
      }
    }
    if (name.startsWith("ft:")) {
      const parts = name.split(":");
      if (parts.length > 1 && parts[1]) name = `ft:${parts[1]}`;
    }
    const index = this.indexes.get(p);
    let candidate: string | null = name;
    while (index !== undefined && candidate !== null) {
      const found = index.find(candidate);
      if (found !== null) return { entry: found, provider: request, geo };
      candidate = stripSnapshot(candidate);
    }
    if (prov !== undefined && depth < 3) {
      for (const rule of prov.delegate) {
        if (rule.prefix !== null && !name.startsWith(rule.prefix)) continue;
        let target = name;
        if (rule.prefix !== null && !rule.keepPrefix) target = name.slice(rule.prefix.length);
        if (rule.dotsToDashes) target = target.replaceAll(".", "-");
        return this.matchIn(rule.to, target, request, geo, depth + 1);
      }
    }
    return { entry: null, provider: request, geo };
  }
}
