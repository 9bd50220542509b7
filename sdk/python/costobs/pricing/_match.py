"""Model matching: from (provider, model as sent) to one price-table entry, explainably.

Precedence, first hit wins (every step is recorded for ``explain``):

1. configured aliases (``with_aliases`` / alias overrides): Azure deployment names,
   Bedrock application-profile ARNs, any in-house name -> (provider, model);
2. provider prefix normalisation: a Bedrock ARN keeps its last path segment, the provider's
   ``strip_prefixes`` (``models/``, ``accounts/fireworks/models/``), ``<provider>/``, then a
   geo prefix (``us.``, ``eu.``, ``global.`` …) which is remembered as the region key;
3. ``ft:<base>:org::id`` -> ``ft:<base>`` (fine-tuned rates);
4. in the provider's entries (custom override entries first): exact id or alias, then the
   longest declared prefix / suffix; if none, strip one snapshot/version suffix
   (``@…``, ``-v1:0``, ``-2024-08-06``, ``-20250929``, ``-05-20``, ``-0125``, ``-001``,
   ``-latest``, ``-preview``) and try again;
5. the provider's ``delegate`` rules (OpenRouter ``anthropic/…`` -> anthropic, Azure ->
   openai, Vertex ``claude-…`` -> anthropic), which re-run steps 2–4 there;
6. nothing: the model is unpriced ($0, ``unpriced=True``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._compile import Entry, Provider

_SNAPSHOT_SUFFIXES = (
    re.compile(r"@[^@/]*$"),
    re.compile(r"-v\d+(:\d+)?$"),
    re.compile(r":\d+$"),
    re.compile(r"-\d{4}-\d{2}-\d{2}$"),
    re.compile(r"-\d{8}$"),
    re.compile(r"-\d{2}-\d{2}$"),
    re.compile(r"-\d{3,4}$"),
    re.compile(r"-latest$"),
    re.compile(r"-preview$"),
)


def strip_snapshot(name: str) -> str | None:
    for pattern in _SNAPSHOT_SUFFIXES:
        stripped = pattern.sub("", name, count=1)
        if stripped != name and stripped:
            return stripped
    return None


@dataclass(frozen=True, slots=True)
class Alias:
    provider: str
    model: str


@dataclass(frozen=True, slots=True)
class Match:
    entry: Entry | None
    provider: str
    """The (normalised) provider the request went through: its regions and tiers apply."""
    geo: str | None
    """Region key taken from the model id (Bedrock ``us.`` -> ``us``), if any."""
    steps: tuple[str, ...]


class ProviderIndex:
    """Lookup structures of one provider's entries."""

    __slots__ = ("exact", "prefixes", "suffixes")

    def __init__(self) -> None:
        self.exact: dict[str, Entry] = {}
        self.prefixes: list[tuple[str, Entry]] = []
        self.suffixes: list[tuple[str, Entry]] = []

    def add(self, entry: Entry) -> None:
        """Later additions win over earlier ones (custom entries are added last)."""
        for name in (entry.model, *entry.aliases):
            self.exact[name.lower()] = entry
        for prefix in entry.prefixes:
            if prefix.startswith("*"):
                self.suffixes.append((prefix[1:].lower(), entry))
            else:
                self.prefixes.append((prefix.lower(), entry))

    def finish(self) -> None:
        # Longest first; for equal lengths the later (custom) one first: stable sort of reversed.
        self.prefixes = sorted(reversed(self.prefixes), key=lambda p: -len(p[0]))
        self.suffixes = sorted(reversed(self.suffixes), key=lambda p: -len(p[0]))

    def find(self, name: str) -> tuple[Entry, str] | None:
        entry = self.exact.get(name)
        if entry is not None:
            return entry, f"exact id {name!r}"
        for prefix, entry in self.prefixes:
            if name.startswith(prefix):
                return entry, f"declared prefix {prefix!r} of {name!r}"
        for suffix, entry in self.suffixes:
            if name.endswith(suffix):
                return entry, f"declared suffix {suffix!r} of {name!r}"
        return None


class Matcher:
    def __init__(
        self,
        providers: dict[str, Provider],
        indexes: dict[str, ProviderIndex],
        aliases: dict[tuple[str, str], Alias],
    ) -> None:
        self._providers = providers
        self._indexes = indexes
        self._aliases = aliases
        self._provider_names: dict[str, str] = {}
        for name, prov in providers.items():
            self._provider_names[name] = name
            for alias in prov.aliases:
                self._provider_names.setdefault(alias, name)

    def provider_name(self, provider: str) -> str:
        p = provider.strip().lower()
        return self._provider_names.get(p, p)

    def match(self, provider: str, model: str) -> Match:
        steps: list[str] = []
        p = self.provider_name(provider)
        if p != provider:
            steps.append(f"provider {provider!r} is {p!r}")
        name = model.strip().lower()
        alias = self._aliases.get((p, name)) or self._aliases.get(("*", name))
        if alias is not None:
            steps.append(f"configured alias {name!r} -> {alias.provider}:{alias.model}")
            p, name = self.provider_name(alias.provider), alias.model.strip().lower()
        return self._match_in(p, name, steps, p, None, 0)

    def _match_in(
        self, p: str, name: str, steps: list[str], request: str, geo: str | None, depth: int
    ) -> Match:
        prov = self._providers.get(p)
        if name.startswith("arn:") and "/" in name:
            short = name.rsplit("/", 1)[1]
            steps.append(f"ARN {name!r} -> model id {short!r}")
            name = short
        if prov is not None:
            for prefix in prov.strip_prefixes:
                if name.startswith(prefix) and len(name) > len(prefix):
                    steps.append(f"stripped prefix {prefix!r}")
                    name = name[len(prefix) :]
                    break
        if name.startswith(p + "/"):
            steps.append(f"stripped provider prefix {p + '/'!r}")
            name = name[len(p) + 1 :]
        if prov is not None:
            for suffix in prov.strip_suffixes:
                if name.endswith(suffix) and len(name) > len(suffix):
                    steps.append(f"stripped variant suffix {suffix!r}")
                    name = name[: -len(suffix)]
                    break
            for prefix in prov.geo_prefixes:
                if name.startswith(prefix):
                    geo = prefix.rstrip(".")
                    steps.append(f"geo prefix {prefix!r}: region key {geo!r}")
                    name = name[len(prefix) :]
                    break
        if name.startswith("ft:"):
            parts = name.split(":")
            if len(parts) > 1 and parts[1]:
                base = "ft:" + parts[1]
                if base != name:
                    steps.append(f"fine-tuned model {name!r} -> {base!r}")
                name = base
        index = self._indexes.get(p)
        candidate: str | None = name
        while index is not None and candidate is not None:
            found = index.find(candidate)
            if found is not None:
                entry, why = found
                steps.append(f"{why} in provider {p!r} -> entry {entry.id!r}")
                return Match(entry, request, geo, tuple(steps))
            stripped = strip_snapshot(candidate)
            if stripped is not None:
                steps.append(
                    f"no entry for {candidate!r}; snapshot suffix stripped -> {stripped!r}"
                )
            candidate = stripped
        if prov is not None and depth < 3:
            for rule in prov.delegate:
                if rule.prefix is not None and not name.startswith(rule.prefix):
                    continue
                target = name
                if rule.prefix is not None and not rule.keep_prefix:
                    target = name[len(rule.prefix) :]
                if rule.dots_to_dashes:
                    target = target.replace(".", "-")
                steps.append(
                    f"provider {p!r} delegates {name!r} to provider {rule.to!r} as {target!r}"
                )
                return self._match_in(rule.to, target, steps, request, geo, depth + 1)
        if prov is None and index is None:
            steps.append(f"unknown provider {p!r}")
        steps.append("no entry matched: unpriced ($0)")
        return Match(None, request, geo, tuple(steps))
