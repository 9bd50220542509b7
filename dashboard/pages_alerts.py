"""Alerts: rules, targets, alert history and the delivery log, from ``/v1/alerts/*``.

Everyone who can read sees the lists; a credential with the ``admin`` scope also gets the write
controls (create, edit, enable/disable or delete a rule; create or delete a target; send a
test alert). The API
validates every change and its message is shown as is. Changes run in button callbacks, before
the page is drawn, so what the page shows afterwards is already read back from the API. While
``/v1/alerts/*`` answers 404 the page says alert rules are not available yet.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import available_timezones

import pandas as pd
import streamlit as st

from dashboard import alerts_view as view
from dashboard import ui
from dashboard.api import Api, ApiError

# No bare string literals at module level: Streamlit's "magic" would draw them on the page.
FLASH = "alerts_flash"  # messages from the last action, shown once: (place, level, text)
NEW_SECRET = "alerts_new_target_secret"
RULE_FIELDS = "nr_"
EDIT_FIELDS = "er_"  # + rule id + "_": one edit form per rule
TARGET_FIELDS = "nt_"
DIMENSIONS = view.SCOPE_FIELDS


def _get(ctx: ui.PageContext, path: str, **params: Any) -> Any | None:
    try:
        return ctx.api.get(path, **params)
    except ApiError as exc:
        if exc.status == 404:
            return None
        st.error(f"The read API answered {exc.status}: {exc.detail}")
        st.stop()


# --- messages from actions --------------------------------------------------------------------


def _say(place: str, level: str, text: str) -> None:
    st.session_state.setdefault(FLASH, []).append((place, level, text))


def _show(place: str) -> None:
    messages = st.session_state.get(FLASH, [])
    for where, level, text in messages:
        if where == place:
            (st.success if level == "success" else st.error)(text)
    st.session_state[FLASH] = [m for m in messages if m[0] != place]


def _failed(what: str, exc: ApiError) -> str:
    return f"{what}: the API answered {exc.status} — {exc.detail}"


# --- actions (button callbacks: they run before the page is drawn) ----------------------------


def _send_test(api: Api, rule: dict[str, Any], targets: list[dict[str, Any]]) -> None:
    try:
        result = api.send("POST", f"/v1/alerts/rules/{rule['id']}/test")
    except ApiError as exc:
        _say("rules", "error", _failed(f"Test alert for “{rule['name']}” not sent", exc))
        return
    for outcome in result["results"]:
        ok, text = view.outcome_text(outcome, targets)
        _say("rules", "success" if ok else "error", f"Test alert for “{rule['name']}” → {text}")


def _set_enabled(api: Api, rule: dict[str, Any], enabled: bool) -> None:
    state = "enabled" if enabled else "disabled"
    try:
        api.send("PATCH", f"/v1/alerts/rules/{rule['id']}", {"enabled": enabled})
    except ApiError as exc:
        _say("rules", "error", _failed(f"Rule “{rule['name']}” not {state}", exc))
    else:
        _say("rules", "success", f"Rule “{rule['name']}” {state}.")


def _set_targets(api: Api, rule: dict[str, Any]) -> None:
    ids = list(st.session_state.get(f"targets_{rule['id']}", []))
    try:
        api.send("PATCH", f"/v1/alerts/rules/{rule['id']}", {"target_ids": ids})
    except ApiError as exc:
        _say("rules", "error", _failed(f"Targets of “{rule['name']}” not saved", exc))
    else:
        _say("rules", "success", f"Targets of “{rule['name']}” saved.")


def _delete_rule(api: Api, rule: dict[str, Any]) -> None:
    try:
        api.send("DELETE", f"/v1/alerts/rules/{rule['id']}")
    except ApiError as exc:
        _say("rules", "error", _failed(f"Rule “{rule['name']}” not deleted", exc))
    else:
        _say("rules", "success", f"Rule “{rule['name']}” deleted (with its alert history).")


def _clear(prefix: str, keep: tuple[str, ...] = ()) -> None:
    for key in [k for k in st.session_state if str(k).startswith(prefix)]:
        if key not in keep:
            del st.session_state[key]


def _body(prefix: str) -> dict[str, Any]:
    """The rule form's fields (keys ``prefix`` + name) as an API body; ``ValueError`` for
    input the form cannot read."""
    state = st.session_state
    kind = state[f"{prefix}kind"]
    return view.rule_body(
        name=state.get(f"{prefix}name", ""),
        kind=kind,
        config=view.kind_config(
            kind,
            state.get(f"{prefix}threshold", ""),
            state.get(f"{prefix}factor", ""),
            state.get(f"{prefix}baseline", "rolling_7d"),
            state.get(f"{prefix}budget", ""),
        ),
        scope_fields={d: state.get(f"{prefix}scope_{d}", "") for d in DIMENSIONS},
        tags_text=state.get(f"{prefix}tags", ""),
        group_by=state.get(f"{prefix}group_by") or None,
        group_tag=state.get(f"{prefix}group_tag", ""),
        timezone=state.get(f"{prefix}tz") or None,
        cooldown_minutes=int(state.get(f"{prefix}cooldown", 1440)),
        enabled=bool(state.get(f"{prefix}enabled", True)),
        target_ids=list(state.get(f"{prefix}targets", [])),
    )


def _create_rule(api: Api) -> None:
    try:
        body = _body(RULE_FIELDS)
    except ValueError as exc:
        _say("new_rule", "error", f"The rule was not created: {exc}")
        return
    try:
        created = api.send("POST", "/v1/alerts/rules", body)
    except ApiError as exc:
        _say("new_rule", "error", _failed("The rule was not created", exc))
        return
    _clear(RULE_FIELDS, keep=("nr_kind",))  # a fresh form; on errors the input stays to fix
    _say("new_rule", "success", f"Rule “{created['name']}” created.")


def _edit_prefix(rule: dict[str, Any]) -> str:
    return f"{EDIT_FIELDS}{rule['id']}_"


def _save_rule(api: Api, rule: dict[str, Any]) -> None:
    """Save the edit form: everything but enabled and targets, which have their own controls."""
    prefix = _edit_prefix(rule)
    place = f"edit_{rule['id']}"
    try:
        body = _body(prefix)
    except ValueError as exc:
        _say(place, "error", f"Rule “{rule['name']}” not saved: {exc}")
        return
    for field in ("enabled", "target_ids"):
        body.pop(field)
    try:
        saved = api.send("PATCH", f"/v1/alerts/rules/{rule['id']}", body)
    except ApiError as exc:
        _say(place, "error", _failed(f"Rule “{rule['name']}” not saved", exc))
        return
    _clear(prefix)  # the form reloads from the saved rule
    _say("rules", "success", f"Rule “{saved['name']}” saved.")


def _create_target(api: Api) -> None:
    state = st.session_state
    kind = state["nt_kind"]
    secret = state.get("nt_secret", "").strip() if kind == "webhook" else ""
    body: dict[str, Any] = {
        "kind": kind,
        "url": state.get("nt_url", "").strip(),
        "name": state.get("nt_name", "").strip(),
    }
    if secret:
        body["secret"] = secret
    try:
        created = api.send("POST", "/v1/alerts/targets", body)
    except ApiError as exc:
        _say("targets", "error", _failed("The target was not created", exc))
        return
    _clear(TARGET_FIELDS, keep=("nt_kind",))
    if created.get("secret") and not secret:
        state[NEW_SECRET] = created["secret"]
    _say("targets", "success", f"Target “{created['name']}” created.")


def _delete_target(api: Api, target_id: str) -> None:
    try:
        api.send("DELETE", f"/v1/alerts/targets/{target_id}")
    except ApiError as exc:
        _say("targets", "error", _failed("The target was not deleted", exc))
    else:
        _say("targets", "success", "Target deleted (and removed from its rules).")


# --- sections ---------------------------------------------------------------------------------


def _rules(
    ctx: ui.PageContext, rules: list[dict[str, Any]], targets: list[dict[str, Any]], admin: bool
) -> None:
    _show("rules")
    if not rules:
        st.write("No alert rules yet.")
    else:
        frame = pd.DataFrame(view.rule_rows(rules, targets, ctx.org["timezone"]))
        st.dataframe(frame, hide_index=True, width="stretch")
    if not admin:
        return
    target_ids = [t["id"] for t in targets]
    labels = {t["id"]: view.target_label(t) for t in targets}
    for rule in rules:
        rid = rule["id"]
        state = "" if rule["enabled"] else " (disabled)"
        with st.expander(f"{rule['name']} — {view.KIND_LABELS.get(rule['kind'], rule['kind'])}"):
            st.caption(
                f"{view.config_text(rule['kind'], rule['config'])} · "
                f"{view.scope_text(rule.get('scope'))}{state}"
            )
            test, toggle, delete = st.columns(3)
            test.button(
                "Send test alert",
                key=f"test_{rid}",
                on_click=_send_test,
                args=(ctx.api, rule, targets),
                disabled=not rule["target_ids"],
                help="Sends a test alert to this rule's targets now"
                if rule["target_ids"]
                else "Add a target to this rule first",
            )
            toggle.button(
                "Disable" if rule["enabled"] else "Enable",
                key=f"toggle_{rid}",
                on_click=_set_enabled,
                args=(ctx.api, rule, not rule["enabled"]),
            )
            sure = delete.checkbox("Really delete", key=f"confirm_{rid}")
            delete.button(
                "Delete rule",
                key=f"delete_{rid}",
                on_click=_delete_rule,
                args=(ctx.api, rule),
                disabled=not sure,
            )
            _edit_rule(ctx, rule)
            if target_ids:
                picked, save = st.columns([3, 1], vertical_alignment="bottom")
                picked.multiselect(
                    "Targets",
                    target_ids,
                    default=[t for t in rule["target_ids"] if t in labels],
                    format_func=lambda i: labels.get(i, i),
                    key=f"targets_{rid}",
                )
                save.button(
                    "Save targets",
                    key=f"save_targets_{rid}",
                    on_click=_set_targets,
                    args=(ctx.api, rule),
                )
    _new_rule(ctx, targets)


def _new_rule(ctx: ui.PageContext, targets: list[dict[str, Any]]) -> None:
    st.subheader("New rule")
    _seed(RULE_FIELDS, {"cooldown": 1440, "enabled": True})
    _rule_form(ctx, RULE_FIELDS, "new_rule", targets)
    _show("new_rule")


def _edit_rule(ctx: ui.PageContext, rule: dict[str, Any]) -> None:
    if not st.toggle("Edit this rule", key=f"editing_{rule['id']}"):
        return
    prefix = _edit_prefix(rule)
    _seed(prefix, view.form_values(rule))
    _rule_form(ctx, prefix, f"edit_rule_{rule['id']}", None, rule)
    _show(f"edit_{rule['id']}")


def _seed(prefix: str, values: dict[str, Any]) -> None:
    """Form fields start from ``values`` (widgets then read their value from the state)."""
    for name, value in values.items():
        st.session_state.setdefault(f"{prefix}{name}", value)


def _rule_form(
    ctx: ui.PageContext,
    prefix: str,
    form: str,
    targets: list[dict[str, Any]] | None,
    rule: dict[str, Any] | None = None,
) -> None:
    """The rule fields under keys ``prefix`` + name; with ``targets`` (a new rule) also the
    targets and enabled fields, which an existing rule changes with its own controls."""
    kind = st.selectbox(
        "Kind",
        list(view.KIND_LABELS),
        format_func=lambda k: view.KIND_LABELS[k],
        key=f"{prefix}kind",
    )
    with st.form(form):
        st.text_input("Name", key=f"{prefix}name", placeholder="Daily spend over $50")
        if kind == "daily_threshold":
            st.text_input("Threshold (USD per day)", key=f"{prefix}threshold", placeholder="50.00")
        elif kind == "spike":
            factor, baseline = st.columns(2)
            factor.text_input(
                "Factor (fires when today > factor × baseline)", key=f"{prefix}factor"
            )
            baseline.selectbox(
                "Baseline",
                list(view.BASELINE_LABELS),
                format_func=lambda b: view.BASELINE_LABELS[b],
                key=f"{prefix}baseline",
            )
        else:
            st.text_input("Budget (USD per month)", key=f"{prefix}budget", placeholder="1000.00")
        st.markdown("**Scope** — blank watches all spend; separate several values with commas")
        columns = st.columns(4)
        for i, dimension in enumerate(DIMENSIONS):
            label = ui.DIMENSION_LABELS.get(dimension, dimension.capitalize())
            columns[i % 4].text_input(label, key=f"{prefix}scope_{dimension}")
        st.text_area("Tags (one KEY=VALUE per line)", key=f"{prefix}tags", height=68)
        group, tag, zone, cooldown = st.columns(4)
        group.selectbox(
            "Group by (fires per value)",
            ["", *DIMENSIONS, view.GROUP_TAG],
            format_func=lambda g: {"": "nothing", view.GROUP_TAG: "a tag…"}.get(g, g),
            key=f"{prefix}group_by",
        )
        tag.text_input("Tag key (when grouping by a tag)", key=f"{prefix}group_tag")
        zone.selectbox(
            "Time zone (day and month boundaries)",
            ["", *sorted(available_timezones() | {"UTC"})],
            format_func=lambda z: z or f"org default ({ctx.org['timezone']})",
            key=f"{prefix}tz",
        )
        cooldown.number_input(
            "Cooldown (minutes)", min_value=1, max_value=60 * 24 * 31, key=f"{prefix}cooldown"
        )
        if targets is not None:
            st.multiselect(
                "Targets",
                [t["id"] for t in targets],
                format_func=lambda i: next(view.target_label(t) for t in targets if t["id"] == i),
                key=f"{prefix}targets",
                placeholder="Choose targets" if targets else "Create a target first (Targets tab)",
            )
            st.checkbox("Enabled", key=f"{prefix}enabled")
            st.form_submit_button(
                "Create rule", type="primary", on_click=_create_rule, args=(ctx.api,)
            )
        else:
            st.form_submit_button(
                "Save rule", type="primary", on_click=_save_rule, args=(ctx.api, rule)
            )


def _targets(ctx: ui.PageContext, targets: list[dict[str, Any]], admin: bool) -> None:
    _show("targets")
    secret = st.session_state.pop(NEW_SECRET, None)
    if secret:
        st.warning("Copy this webhook's signing secret now — it is not shown again.")
        st.code(secret, language=None)
        st.caption(
            'Receivers check `X-CostObs-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>." + '
            "body)>` with the timestamp from `X-CostObs-Timestamp`."
        )
    if not targets:
        st.write("No targets yet.")
    else:
        st.dataframe(pd.DataFrame(view.target_rows(targets)), hide_index=True, width="stretch")
    if not admin:
        return
    st.subheader("New target")
    with st.form("new_target"):
        st.selectbox(
            "Kind",
            ["slack", "webhook"],
            format_func=lambda k: {
                "slack": "Slack incoming webhook",
                "webhook": "Generic webhook (signed JSON)",
            }[k],
            key="nt_kind",
        )
        st.text_input("Name", key="nt_name")
        st.text_input("URL", key="nt_url", placeholder="https://hooks.slack.com/services/…")
        st.text_input(
            "Signing secret (generic webhooks; blank generates one)",
            type="password",
            key="nt_secret",
        )
        st.form_submit_button("Create target", on_click=_create_target, args=(ctx.api,))
    if targets:
        pick, sure, go = st.columns([3, 1, 1], vertical_alignment="bottom")
        target_id = pick.selectbox(
            "Delete a target",
            [t["id"] for t in targets],
            format_func=lambda i: next(view.target_label(t) for t in targets if t["id"] == i),
            key="target_delete_id",
        )
        confirmed = sure.checkbox("Really delete", key="target_delete_confirm")
        go.button(
            "Delete target",
            key="target_delete",
            disabled=not confirmed,
            on_click=_delete_target,
            args=(ctx.api, target_id),
        )


def _history(ctx: ui.PageContext, rules: list[dict[str, Any]]) -> None:
    names = {r["id"]: r["name"] for r in rules}
    rule_id = st.selectbox(
        "Rule",
        ["", *names],
        format_func=lambda i: names.get(i, "all rules"),
        key="history_rule",
    )
    fires = (_get(ctx, "/v1/alerts/history", rule_id=rule_id or None, limit=100) or {}).get(
        "fires", []
    )
    if not fires:
        st.write("No alert has fired.")
        return
    st.dataframe(pd.DataFrame(view.history_rows(fires, rules)), hide_index=True, width="stretch")
    st.caption("The newest 100 alerts. Observed is the spend (or forecast) when the rule fired.")


def _deliveries(
    ctx: ui.PageContext, rules: list[dict[str, Any]], targets: list[dict[str, Any]]
) -> None:
    log = (_get(ctx, "/v1/alerts/deliveries", limit=100) or {}).get("deliveries", [])
    if not log:
        st.write("Nothing was delivered yet.")
        return
    frame = pd.DataFrame(view.delivery_rows(log, rules, targets))
    st.dataframe(frame, hide_index=True, width="stretch")
    st.caption("The newest 100 delivery attempts, test alerts included; each retry is a row.")


def render(ctx: ui.PageContext) -> None:
    st.title("Alerts")
    listed = _get(ctx, "/v1/alerts/rules")
    if listed is None:
        st.info("Alert rules are not available yet on this server.", icon=":material/info:")
        return
    rules: list[dict[str, Any]] = listed.get("rules", [])
    targets: list[dict[str, Any]] = (_get(ctx, "/v1/alerts/targets") or {}).get("targets", [])
    admin = "admin" in ctx.org["credential"]["scopes"]
    if not admin:
        st.info(
            "This dashboard's credential has no admin scope, so rules and targets are shown "
            "read-only: creating, changing or deleting them and sending test alerts need an "
            "admin key.",
            icon=":material/lock:",
        )
    rules_tab, targets_tab, history_tab, log_tab = st.tabs(
        ["Rules", "Targets", "History", "Delivery log"]
    )
    with rules_tab:
        _rules(ctx, rules, targets, admin)
    with targets_tab:
        _targets(ctx, targets, admin)
    with history_tab:
        _history(ctx, rules)
    with log_tab:
        _deliveries(ctx, rules, targets)


if __name__ == "__main__":
    render(ui.context())
