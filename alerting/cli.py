"""``costobs alerts …``: manage alert rules and targets through the read API.

Works against any running CostObs (``--url``, default ``http://COSTOBS_HOST:COSTOBS_PORT``)
with an API key (``--api-key`` or ``COSTOBS_API_KEY``; the dev key by default). Listing needs
the ``read`` scope, everything else ``admin``.
"""

from __future__ import annotations

import argparse
import json
import sys
from decimal import Decimal
from typing import Any

from costobs_server.api_client import add_client_args, call, client
from costobs_server.errors import CostObsError


def _scope(items: list[str]) -> dict[str, Any]:
    scope: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise CostObsError(f"--scope {item!r}: expected NAME=VALUE or tag:KEY=VALUE")
        values: str | list[str] = value.split(",") if "," in value else value
        if name.startswith("tag:"):
            scope.setdefault("tags", {})[name[4:]] = values
        else:
            scope[name] = values
    return scope


def _config(args: argparse.Namespace) -> dict[str, Any]:
    if args.config:
        loaded: dict[str, Any] = json.loads(args.config, parse_float=Decimal)
        return loaded
    in_currency = {"currency": args.currency} if args.currency else {}
    if args.kind == "daily_threshold" and args.threshold:
        if in_currency:
            return {"threshold": args.threshold, **in_currency}
        return {"threshold_usd": args.threshold}
    if args.kind == "spike" and args.factor:
        return {"factor": args.factor, "baseline": args.baseline}
    if args.kind in ("monthly_budget", "projected_monthly_budget") and args.budget:
        if in_currency:
            return {"budget": args.budget, **in_currency}
        return {"budget_usd": args.budget}
    raise CostObsError(
        f"{args.kind} needs --config or "
        + {"daily_threshold": "--threshold", "spike": "--factor"}.get(args.kind, "--budget")
    )


def _print_rules(rules: list[dict[str, Any]]) -> None:
    if not rules:
        print("no alert rules")
    for r in rules:
        config = ",".join(f"{k}={v}" for k, v in r["config"].items())
        scope = json.dumps(r["scope"], separators=(",", ":")) if r["scope"] else "all"
        group = f" group_by={r['group_by']}" if r["group_by"] else ""
        state = "" if r["enabled"] else " (disabled)"
        print(f"{r['id']}  {r['kind']:<24} {config:<28} scope={scope}{group}  {r['name']}{state}")


def _alerts(args: argparse.Namespace) -> int:
    with client(args) as c:
        command = args.alerts_command
        if command == "list":
            _print_rules(call(c, "GET", "/v1/alerts/rules")["rules"])
        elif command == "create":
            targets = list(args.target or [])
            for kind, url in [("webhook", u) for u in args.webhook or []] + [
                ("slack", u) for u in args.slack or []
            ]:
                made = call(c, "POST", "/v1/alerts/targets", {"kind": kind, "url": url})
                targets.append(made["id"])
                if made.get("secret"):
                    print(f"webhook target {made['id']} signing secret: {made['secret']}")
            body: dict[str, Any] = {
                "name": args.name,
                "kind": args.kind,
                "config": _config(args),
                "scope": _scope(args.scope or []),
                "group_by": args.group_by,
                "timezone": args.timezone,
                "target_ids": targets,
            }
            if args.cooldown_minutes is not None:
                body["cooldown_minutes"] = args.cooldown_minutes
            rule = call(c, "POST", "/v1/alerts/rules", body)
            print(json.dumps(rule, indent=2))
        elif command == "delete":
            call(c, "DELETE", f"/v1/alerts/rules/{args.id}")
            print(f"deleted rule {args.id}")
        elif command == "test":
            result = call(c, "POST", f"/v1/alerts/rules/{args.id}/test")
            for r in result["results"]:
                state = "ok" if r["ok"] else f"FAILED ({r['error']})"
                print(f"target {r['target_id']}: {state}")
            return 0 if result["ok"] else 1
        elif command == "history":
            path = "/v1/alerts/history" + (f"?rule_id={args.rule}" if args.rule else "")
            for f in call(c, "GET", path)["fires"]:
                group = f" [{f['group']}]" if f["group"] else ""
                code = f.get("currency") or "USD"
                print(
                    f"{f['fired_at']}  rule {f['rule_id']}{group}  {f['period']}  "
                    f"observed {f['observed_usd']} > {f['threshold_usd']} {code}  {f['status']}"
                )
        elif command == "targets":
            action = args.targets_command
            if action == "list":
                for t in call(c, "GET", "/v1/alerts/targets")["targets"]:
                    print(f"{t['id']}  {t['kind']:<8} {t['url']}  {t['name']}")
            elif action == "create":
                body = {"kind": args.kind, "url": args.target_url, "name": args.name or ""}
                if args.secret:
                    body["secret"] = args.secret
                print(json.dumps(call(c, "POST", "/v1/alerts/targets", body), indent=2))
            elif action == "delete":
                call(c, "DELETE", f"/v1/alerts/targets/{args.id}")
                print(f"deleted target {args.id}")
    return 0


def register(sub: Any) -> None:
    alerts = sub.add_parser("alerts", help="alert rules and targets (through the read API)")
    add_client_args(alerts)
    alerts.set_defaults(func=_alerts)
    cmds = alerts.add_subparsers(dest="alerts_command", required=True)
    cmds.add_parser("list", help="list rules")
    create = cmds.add_parser("create", help="create a rule")
    create.add_argument("--name", required=True)
    create.add_argument(
        "--kind",
        required=True,
        choices=["daily_threshold", "spike", "monthly_budget", "projected_monthly_budget"],
    )
    create.add_argument("--threshold", help="daily_threshold: USD, e.g. 50")
    create.add_argument("--budget", help="(projected_)monthly_budget: USD")
    create.add_argument(
        "--currency",
        help="--threshold/--budget in this ISO 4217 currency (e.g. EUR) instead of USD: spend "
        "is converted day by day with the org's rates",
    )
    create.add_argument("--factor", help="spike: e.g. 2")
    create.add_argument("--baseline", default="rolling_7d", choices=["rolling_7d", "yesterday"])
    create.add_argument("--config", help="the kind's config as JSON instead")
    create.add_argument(
        "--scope",
        action="append",
        metavar="NAME=VALUE",
        help="provider|model|feature|team|customer|user|environment=VALUE[,VALUE] or "
        "tag:KEY=VALUE; repeat to combine",
    )
    create.add_argument("--group-by", help="fire per value of one dimension (or tag:KEY)")
    create.add_argument("--timezone", help="day/month boundaries (default: the org's)")
    create.add_argument("--cooldown-minutes", type=int)
    create.add_argument("--target", action="append", help="existing target id")
    create.add_argument("--webhook", action="append", help="create a webhook target for it")
    create.add_argument("--slack", action="append", help="create a Slack target for it")
    cmds.add_parser("delete", help="delete a rule").add_argument("id")
    cmds.add_parser("test", help="send a test alert to a rule's targets").add_argument("id")
    cmds.add_parser("history", help="fired alerts").add_argument("--rule")
    targets = cmds.add_parser("targets", help="Slack and webhook targets")
    tcmds = targets.add_subparsers(dest="targets_command", required=True)
    tcmds.add_parser("list")
    tcreate = tcmds.add_parser("create")
    tcreate.add_argument("--kind", required=True, choices=["slack", "webhook"])
    tcreate.add_argument("--url", dest="target_url", required=True)
    tcreate.add_argument("--name")
    tcreate.add_argument("--secret", help="webhook signing secret (default: generated)")
    tcmds.add_parser("delete").add_argument("id")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="costobs")
    register(parser.add_subparsers(dest="command", required=True))
    ns = parser.parse_args()
    sys.exit(ns.func(ns))
