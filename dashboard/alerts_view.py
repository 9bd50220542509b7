"""What the Alerts page shows and sends, as pure functions (no Streamlit, no I/O).

Money stays a decimal string from the API to the screen: ``usd`` (the rule of every page,
``costobs_server.vocabulary``) formats it exactly, and the rule body sends what the user typed,
as text, for the API to validate.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from alerting.delivery import figures
from costobs_server.currency import currency, display
from costobs_server.errors import InvalidInput
from costobs_server.vocabulary import ALERT_DIMENSIONS, NO_VALUE, usd

KIND_LABELS = {
    "daily_threshold": "Daily threshold",
    "spike": "Spike",
    "monthly_budget": "Monthly budget",
    "projected_monthly_budget": "Projected monthly budget",
}
BASELINE_LABELS = {"rolling_7d": "the 7-day daily mean", "yesterday": "yesterday's spend"}
SCOPE_FIELDS = tuple(ALERT_DIMENSIONS)
"""What a rule's scope and group_by choose from, in form order."""
GROUP_TAG = "tag:"  # the group-by choice "a tag…", completed with the tag key typed


def _limit_text(config: Mapping[str, Any], key: str) -> str:
    """A rule's limit as set: ``$50.00`` for ``<key>_usd``, ``900.00 EUR`` for a limit set
    in a display currency (``<key>`` + ``currency``)."""
    code = config.get("currency")
    if code and config.get(key) is not None:
        return display(Decimal(str(config[key])), currency(code))
    return usd(config.get(f"{key}_usd"))


def config_text(kind: str, config: Mapping[str, Any]) -> str:
    """A rule's config in words, e.g. ``spend over $50.00 a day``."""
    if kind == "daily_threshold":
        return f"spend over {_limit_text(config, 'threshold')} a day"
    if kind == "spike":
        baseline = BASELINE_LABELS.get(str(config.get("baseline")), str(config.get("baseline")))
        return f"today over {config.get('factor')}× {baseline}"
    if kind == "monthly_budget":
        return f"month to date over {_limit_text(config, 'budget')}"
    if kind == "projected_monthly_budget":
        return f"month-end forecast over {_limit_text(config, 'budget')}"
    return ", ".join(f"{k}={v}" for k, v in config.items())


def _values(value: Any) -> str:
    return " | ".join(value) if isinstance(value, list) else str(value)


def scope_text(scope: Mapping[str, Any] | None) -> str:
    """``provider=openai; customer=a | b; tag pr=101`` or ``all spend``."""
    if not scope:
        return "all spend"
    parts = [f"{k}={_values(v)}" for k, v in scope.items() if k != "tags"]
    parts += [f"tag {k}={_values(v)}" for k, v in (scope.get("tags") or {}).items()]
    return "; ".join(parts) or "all spend"


def cooldown_text(minutes: int) -> str:
    if minutes % 1440 == 0:
        return f"{minutes // 1440} d"
    if minutes % 60 == 0:
        return f"{minutes // 60} h"
    return f"{minutes} min"


def target_label(target: Mapping[str, Any]) -> str:
    kind = "Slack" if target.get("kind") == "slack" else "webhook"
    return f"{target.get('name') or target.get('id')} ({kind})"


def _names(items: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    return {str(i["id"]): str(i.get("name") or i["id"]) for i in items}


def rule_rows(
    rules: list[dict[str, Any]], targets: list[dict[str, Any]], org_timezone: str
) -> dict[str, list[Any]]:
    names = _names(targets)
    return {
        "Name": [r["name"] for r in rules],
        "Kind": [r["kind"] for r in rules],
        "Config": [config_text(r["kind"], r.get("config") or {}) for r in rules],
        "Scope": [scope_text(r.get("scope")) for r in rules],
        "Group by": [r.get("group_by") or NO_VALUE for r in rules],
        "Time zone": [r.get("timezone") or f"org ({org_timezone})" for r in rules],
        "Cooldown": [cooldown_text(int(r["cooldown_minutes"])) for r in rules],
        "Enabled": [bool(r["enabled"]) for r in rules],
        "Targets": [
            ", ".join(names.get(t, f"{t} (deleted)") for t in r.get("target_ids") or []) or "none"
            for r in rules
        ],
        "Id": [r["id"] for r in rules],
    }


def target_rows(targets: list[dict[str, Any]]) -> dict[str, list[Any]]:
    return {
        "Name": [t["name"] for t in targets],
        "Kind": ["Slack" if t["kind"] == "slack" else "webhook" for t in targets],
        "URL": [t["url"] for t in targets],
        "Signed": ["yes" if t.get("has_secret") else "no" for t in targets],
        "Created": [_when(t.get("created_at")) for t in targets],
        "Id": [t["id"] for t in targets],
    }


def _when(iso: str | None) -> str:
    return iso[:19].replace("T", " ") if iso else NO_VALUE


def fire_figures(fire: Mapping[str, Any]) -> tuple[str, str, str]:
    """(observed, threshold, rate) of a stored fire, as its alert message shows them: in the
    rule's currency (``fire["currency"]``; a limit in EUR stores EUR figures), with the org's
    display currency beside USD ones, and the rate with its date ("—": none)."""
    observed, threshold, rate = figures(
        {
            "currency": fire.get("currency") or "USD",
            "observed": fire["observed_usd"],
            "threshold": fire["threshold_usd"],
            "details": fire.get("details") or {},
        }
    )
    return observed, threshold, rate or NO_VALUE


def history_rows(fires: list[dict[str, Any]], rules: list[dict[str, Any]]) -> dict[str, list[Any]]:
    names = _names(rules)
    shown = [fire_figures(f) for f in fires]
    return {
        "Fired at (UTC)": [_when(f["fired_at"]) for f in fires],
        "Rule": [names.get(f["rule_id"], f["rule_id"]) for f in fires],
        "Group": [f.get("group") or NO_VALUE for f in fires],
        "Period": [f["period"] for f in fires],
        "Observed": [s[0] for s in shown],
        "Threshold": [s[1] for s in shown],
        "Rate": [s[2] for s in shown],
        "Status": [f["status"] for f in fires],
        "Attempts": [str(len(f.get("deliveries") or [])) for f in fires],
    }


def delivery_rows(
    deliveries: list[dict[str, Any]],
    rules: list[dict[str, Any]],
    targets: list[dict[str, Any]],
) -> dict[str, list[Any]]:
    rule_names, target_names = _names(rules), _names(targets)
    return {
        "At (UTC)": [_when(d["at"]) for d in deliveries],
        "Rule": [
            rule_names.get(d["rule_id"], d["rule_id"]) if d.get("rule_id") else NO_VALUE
            for d in deliveries
        ],
        "Target": [target_names.get(d["target_id"], d["target_id"]) for d in deliveries],
        "Kind": ["test" if d.get("test") else "alert" for d in deliveries],
        "Attempt": [str(d["attempt"]) for d in deliveries],
        "Result": ["delivered" if d["ok"] else "failed" for d in deliveries],
        "HTTP status": [
            str(d["status_code"]) if d.get("status_code") is not None else NO_VALUE
            for d in deliveries
        ],
        "Error": [d.get("error") or "" for d in deliveries],
    }


def split_values(text: str) -> str | list[str] | None:
    """``openai`` → ``"openai"``; ``a, b`` → ``["a", "b"]``; blank → None."""
    values = [v.strip() for v in text.split(",") if v.strip()]
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def parse_tags(text: str) -> dict[str, str | list[str]]:
    """One ``KEY=VALUE`` per line (``KEY=a, b`` for any of several); ``ValueError`` names the
    line that has no ``=``. Tag names themselves are validated by the API."""
    tags: dict[str, str | list[str]] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"tag line {line.strip()!r}: expected KEY=VALUE")
        values = split_values(value)
        if values is None:
            raise InvalidInput(f"tag {key.strip()!r} has no value")
        tags[key.strip()] = values
    return tags


def kind_config(
    kind: str, threshold: str, factor: str, baseline: str, budget: str
) -> dict[str, str]:
    """The kind's config from the form's text fields; blank fields are left out so the API's
    message names what is missing. Money is sent as the typed text, never as a float."""
    if kind == "daily_threshold":
        fields = {"threshold_usd": threshold}
    elif kind == "spike":
        fields = {"factor": factor, "baseline": baseline}
    else:
        fields = {"budget_usd": budget}
    return {k: v.strip() for k, v in fields.items() if v.strip()}


def rule_body(
    *,
    name: str,
    kind: str,
    config: dict[str, str],
    scope_fields: Mapping[str, str],
    tags_text: str,
    group_by: str | None,
    group_tag: str,
    timezone: str | None,
    cooldown_minutes: int,
    enabled: bool,
    target_ids: list[str],
) -> dict[str, Any]:
    """The ``POST /v1/alerts/rules`` body; ``ValueError`` for input the form cannot read."""
    scope: dict[str, Any] = {}
    for field in SCOPE_FIELDS:
        values = split_values(scope_fields.get(field, ""))
        if values is not None:
            scope[field] = values
    tags = parse_tags(tags_text)
    if tags:
        scope["tags"] = tags
    if group_by == GROUP_TAG:
        if not group_tag.strip():
            raise InvalidInput("grouping by a tag needs the tag key")
        group_by = GROUP_TAG + group_tag.strip()
    return {
        "name": name.strip(),
        "kind": kind,
        "config": config,
        "scope": scope,
        "group_by": group_by or None,
        "timezone": timezone or None,
        "cooldown_minutes": cooldown_minutes,
        "enabled": enabled,
        "target_ids": target_ids,
    }


def form_values(rule: Mapping[str, Any]) -> dict[str, Any]:
    """A rule as the rule form's fields (what ``rule_body`` reads back), to edit it."""
    config = rule.get("config") or {}
    scope = dict(rule.get("scope") or {})
    tags = scope.pop("tags", None) or {}
    group_by = rule.get("group_by") or ""
    group_tag = ""
    if group_by.startswith(GROUP_TAG):
        group_by, group_tag = GROUP_TAG, group_by[len(GROUP_TAG) :]
    values: dict[str, Any] = {
        "kind": rule["kind"],
        "name": rule["name"],
        "threshold": str(config.get("threshold_usd", "")),
        "factor": str(config.get("factor", "")),
        "baseline": str(config.get("baseline", "rolling_7d")),
        "budget": str(config.get("budget_usd", "")),
        "tags": "\n".join(f"{k}={_joined(v)}" for k, v in tags.items()),
        "group_by": group_by,
        "group_tag": group_tag,
        "tz": rule.get("timezone") or "",
        "cooldown": int(rule["cooldown_minutes"]),
        "enabled": bool(rule["enabled"]),
        "targets": list(rule.get("target_ids") or []),
    }
    for field in SCOPE_FIELDS:
        values[f"scope_{field}"] = _joined(scope[field]) if field in scope else ""
    return values


def _joined(value: Any) -> str:
    return ", ".join(value) if isinstance(value, list) else str(value)


def outcome_text(outcome: Mapping[str, Any], targets: list[dict[str, Any]]) -> tuple[bool, str]:
    """One target's test-alert result: (ok, sentence)."""
    target = next((t for t in targets if t["id"] == outcome["target_id"]), None)
    who = target_label(target) if target else outcome["target_id"]
    status = outcome.get("status_code")
    http = f"HTTP {status}" if status is not None else "no HTTP answer"
    if outcome.get("ok"):
        return True, f"{who}: delivered ({http})"
    detail = outcome.get("error") or ""
    return False, f"{who}: failed ({http})" + (f" — {detail}" if detail != http else "")
