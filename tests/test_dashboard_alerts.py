"""The dashboard's Alerts page with ``streamlit.testing.v1.AppTest`` against a running read API:
rules and targets made through its forms land in the API, a test alert reaches a loopback
receiver correctly signed, a read-only key gets no write controls, and history and the delivery
log show the stored decimals exactly. Formatting helpers are checked without any server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from alerting.delivery import SIGNATURE_HEADER, verify_signature
from alerting.rules import Breach
from alerting.store import AlertStore
from dashboard import alerts_view as view
from tests.fake_http import Reply, Request, fake_server
from tests.helpers import Running
from tests.test_dashboard_pages import open_page, run

PAGE = "pages_alerts.py"
pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    st.cache_data.clear()  # shared by every AppTest in this process
    yield
    st.cache_data.clear()


async def api(env: Running, method: str, path: str, body: Any = None) -> Any:
    r = await env.client.request(method, path, json=body, headers=env.org.headers)
    assert r.status_code < 400, r.text
    return r.json() if r.content else None


async def new_target(env: Running, url: str, name: str = "receiver") -> dict[str, Any]:
    target: dict[str, Any] = await api(
        env, "POST", "/v1/alerts/targets", {"kind": "webhook", "url": url, "name": name}
    )
    return target


async def new_rule(env: Running, target_ids: list[str], **fields: Any) -> dict[str, Any]:
    body = {
        "name": "daily cap",
        "kind": "daily_threshold",
        "config": {"threshold_usd": "100.5"},
        "target_ids": target_ids,
        **fields,
    }
    rule: dict[str, Any] = await api(env, "POST", "/v1/alerts/rules", body)
    return rule


def table(at: AppTest, column: str) -> pd.DataFrame:
    """The page's table that has ``column`` (the tabs hold one table each)."""
    frame: pd.DataFrame = next(d.value for d in at.dataframe if column in d.value.columns)
    return frame


def texts(elements: Any) -> list[str]:
    return [str(e.value) for e in elements]


def _has(at: AppTest, key: str) -> bool:
    return any(w.key == key for w in at.text_input)


def button(at: AppTest, label: str) -> Any:
    return next(b for b in at.button if b.label == label)


# --- the page against the running API ---------------------------------------------------------


async def test_rule_form_creates_what_the_api_then_lists(dashboard_env: Running) -> None:
    target = await new_target(dashboard_env, "http://127.0.0.1:9/hook")
    at = await open_page(PAGE)
    assert getattr(at.main.children[0], "value", None) == "Alerts"  # nothing stray above
    assert "No alert rules yet." in texts(at.markdown)
    at.selectbox(key="nr_kind").select("spike")
    await run(at)  # the kind's own fields
    assert _has(at, "nr_factor") and not _has(at, "nr_threshold")
    at.text_input(key="nr_name").input("Spiky customers")
    at.text_input(key="nr_factor").input("2.5")
    at.selectbox(key="nr_baseline").select("yesterday")
    at.text_input(key="nr_scope_provider").input("openai, anthropic")
    at.text_area(key="nr_tags").input("pr=101")
    at.selectbox(key="nr_group_by").select("customer")
    at.selectbox(key="nr_tz").select("Europe/Berlin")
    at.number_input(key="nr_cooldown").set_value(90)
    at.multiselect(key="nr_targets").select(target["id"])
    button(at, "Create rule").click()
    await run(at)
    assert "Rule “Spiky customers” created." in texts(at.success)
    assert at.text_input(key="nr_name").value == ""  # a fresh form after success
    (rule,) = (await api(dashboard_env, "GET", "/v1/alerts/rules"))["rules"]
    assert rule["kind"] == "spike"
    assert rule["config"] == {"factor": "2.5", "baseline": "yesterday"}
    assert rule["scope"] == {"provider": ["openai", "anthropic"], "tags": {"pr": "101"}}
    assert (rule["group_by"], rule["timezone"], rule["cooldown_minutes"]) == (
        "customer",
        "Europe/Berlin",
        90,
    )
    assert rule["target_ids"] == [target["id"]] and rule["enabled"] is True
    rows = table(at, "Kind").to_dict("records")
    assert rows == [
        {
            "Name": "Spiky customers",
            "Kind": "spike",
            "Config": "today over 2.5× yesterday's spend",
            "Scope": "provider=openai | anthropic; tag pr=101",
            "Group by": "customer",
            "Time zone": "Europe/Berlin",
            "Cooldown": "90 min",
            "Enabled": True,
            "Targets": "receiver",
            "Id": rule["id"],
        }
    ]

    # money as typed, kept exactly; a budget kind shows its own field
    at.selectbox(key="nr_kind").select("monthly_budget")
    await run(at)
    at.text_input(key="nr_name").input("Budget")
    at.text_input(key="nr_budget").input("1000.10")
    button(at, "Create rule").click()
    await run(at)
    budget = next(
        r
        for r in (await api(dashboard_env, "GET", "/v1/alerts/rules"))["rules"]
        if r["name"] == "Budget"
    )
    assert budget["config"] == {"budget_usd": "1000.1"}
    configs = dict(zip(table(at, "Kind")["Name"], table(at, "Kind")["Config"], strict=True))
    assert configs["Budget"] == "month to date over $1,000.10"
    assert (
        dict(zip(table(at, "Kind")["Name"], table(at, "Kind")["Time zone"], strict=True))["Budget"]
        == "org (UTC)"
    )


async def test_the_apis_validation_message_is_shown_and_the_input_kept(
    dashboard_env: Running,
) -> None:
    at = await open_page(PAGE)
    assert not _has(at, "nr_factor")  # daily_threshold is the first kind
    at.text_input(key="nr_name").input("Bad")
    at.text_input(key="nr_threshold").input("-5")
    button(at, "Create rule").click()
    await run(at)
    (error,) = texts(at.error)
    assert error.startswith("The rule was not created: the API answered 422")
    assert "threshold_usd must be a finite number ≥ 0" in error
    assert at.text_input(key="nr_threshold").value == "-5"  # kept to fix
    at.text_input(key="nr_threshold").input("")
    button(at, "Create rule").click()
    await run(at)
    assert "daily_threshold config needs 'threshold_usd'" in texts(at.error)[0]
    at.text_input(key="nr_threshold").input("5")
    at.selectbox(key="nr_group_by").select(view.GROUP_TAG)
    at.text_input(key="nr_group_tag").input("bad key!")
    button(at, "Create rule").click()
    await run(at)
    assert "group_by must be one of" in texts(at.error)[0]
    assert (await api(dashboard_env, "GET", "/v1/alerts/rules"))["rules"] == []


async def test_target_secret_once_and_a_signed_test_alert(dashboard_env: Running) -> None:
    def receiver(request: Request) -> Reply:
        if request.path == "/broken":
            return 500, {}, b"boom"
        return 200, {}, b"ok"

    with fake_server(receiver) as fake:
        at = await open_page(PAGE)
        assert "No targets yet." in texts(at.markdown)
        at.selectbox(key="nt_kind").select("webhook")
        at.text_input(key="nt_name").input("receiver")
        at.text_input(key="nt_url").input(fake.url + "/hook")
        button(at, "Create target").click()
        await run(at)
        secret = at.code[0].value
        assert secret.startswith("whsec_")
        (listed,) = (await api(dashboard_env, "GET", "/v1/alerts/targets"))["targets"]
        assert (listed["name"], listed["url"], listed["has_secret"]) == (
            "receiver",
            fake.url + "/hook",
            True,
        )
        await run(at)
        assert not at.code  # shown once
        broken = await new_target(dashboard_env, fake.url + "/broken", "broken")
        rule = await new_rule(dashboard_env, [listed["id"], broken["id"]])
        st.cache_data.clear()  # made outside the dashboard: skip its 30 s read cache
        await run(at)

        at.button(key=f"test_{rule['id']}").click()
        await run(at)
        assert "Test alert for “daily cap” → receiver (webhook): delivered (HTTP 200)" in texts(
            at.success
        )
        # the status code only: what the target answered ("boom") is never shown
        assert "Test alert for “daily cap” → broken (webhook): failed (HTTP 500)" in texts(at.error)
        (request,) = [r for r in fake.wait_for(2) if r.path == "/hook"]
        assert SIGNATURE_HEADER.lower() in request.headers
        assert verify_signature(secret, request.body, request.headers)
        body = request.json()
        assert body["type"] == "alert.test" and body["rule"]["id"] == rule["id"]
        assert body["threshold_usd"] == "100.5"

        log = table(at, "HTTP status")
        got = {
            (r["Target"], r["Kind"], r["Result"], r["HTTP status"], r["Error"])
            for r in log.to_dict("records")
        }
        assert got == {
            ("receiver", "test", "delivered", "200", ""),
            ("broken", "test", "failed", "500", "HTTP 500"),
        }
        page_text = " ".join(texts(at.error) + texts(at.success) + texts(at.markdown))
        assert "boom" not in page_text and "boom" not in log.to_string()
        assert set(log["Rule"]) == {"daily cap"}
        await run(at)
        assert not at.success  # the outcome is shown once


async def test_disable_enable_and_delete(dashboard_env: Running) -> None:
    rule = await new_rule(dashboard_env, [])
    at = await open_page(PAGE)
    assert at.button(key=f"test_{rule['id']}").disabled  # no targets to send to
    toggle = at.button(key=f"toggle_{rule['id']}")
    assert toggle.label == "Disable"
    toggle.click()
    await run(at)
    assert (await api(dashboard_env, "GET", f"/v1/alerts/rules/{rule['id']}"))["enabled"] is False
    assert list(table(at, "Kind")["Enabled"]) == [False]
    assert at.button(key=f"toggle_{rule['id']}").label == "Enable"
    at.button(key=f"toggle_{rule['id']}").click()
    await run(at)
    assert (await api(dashboard_env, "GET", f"/v1/alerts/rules/{rule['id']}"))["enabled"] is True

    target = await new_target(dashboard_env, "http://127.0.0.1:9/hook")
    st.cache_data.clear()  # made outside the dashboard: skip its 30 s read cache
    await run(at)
    at.multiselect(key=f"targets_{rule['id']}").select(target["id"])
    at.button(key=f"save_targets_{rule['id']}").click()
    await run(at)
    saved = await api(dashboard_env, "GET", f"/v1/alerts/rules/{rule['id']}")
    assert saved["target_ids"] == [target["id"]]
    assert list(table(at, "Kind")["Targets"]) == ["receiver"]
    assert not at.button(key=f"test_{rule['id']}").disabled

    delete = at.button(key=f"delete_{rule['id']}")
    assert delete.disabled  # until confirmed
    at.checkbox(key=f"confirm_{rule['id']}").check()
    await run(at)
    at.button(key=f"delete_{rule['id']}").click()
    await run(at)
    assert (await api(dashboard_env, "GET", "/v1/alerts/rules"))["rules"] == []
    assert "No alert rules yet." in texts(at.markdown)
    assert "Rule “daily cap” deleted (with its alert history)." in texts(at.success)


async def test_edit_a_rule_from_its_form(dashboard_env: Running) -> None:
    target = await new_target(dashboard_env, "http://127.0.0.1:9/hook")
    rule = await new_rule(
        dashboard_env,
        [target["id"]],
        scope={"provider": ["openai", "anthropic"], "tags": {"pr": "101"}},
        group_by="tag:pr",
        timezone="Europe/Berlin",
        cooldown_minutes=90,
    )
    rid = rule["id"]
    k = f"er_{rid}_"
    at = await open_page(PAGE)
    assert not _has(at, f"{k}name")  # the form opens on demand
    at.toggle(key=f"editing_{rid}").set_value(True)
    await run(at)
    # the form starts from the stored rule
    assert at.selectbox(key=f"{k}kind").value == "daily_threshold"
    assert at.text_input(key=f"{k}name").value == "daily cap"
    assert at.text_input(key=f"{k}threshold").value == "100.5"
    assert at.text_input(key=f"{k}scope_provider").value == "openai, anthropic"
    assert at.text_area(key=f"{k}tags").value == "pr=101"
    assert at.selectbox(key=f"{k}group_by").value == view.GROUP_TAG
    assert at.text_input(key=f"{k}group_tag").value == "pr"
    assert at.selectbox(key=f"{k}tz").value == "Europe/Berlin"
    assert at.number_input(key=f"{k}cooldown").value == 90

    # a value the API refuses: its message, the input kept, nothing changed
    at.text_input(key=f"{k}threshold").input("-1")
    button(at, "Save rule").click()
    await run(at)
    assert any("not saved" in m and "422" in m for m in texts(at.error)), texts(at.error)
    assert at.text_input(key=f"{k}threshold").value == "-1"
    unchanged = await api(dashboard_env, "GET", f"/v1/alerts/rules/{rid}")
    assert unchanged["config"] == {"threshold_usd": "100.5"}

    # another kind, name and scope; enabled and targets stay as they were
    at.selectbox(key=f"{k}kind").select("spike")
    await run(at)
    at.text_input(key=f"{k}name").input("spiky")
    at.text_input(key=f"{k}factor").input("3")
    at.text_input(key=f"{k}scope_provider").input("openai")
    button(at, "Save rule").click()
    await run(at)
    assert "Rule “spiky” saved." in texts(at.success)
    saved = await api(dashboard_env, "GET", f"/v1/alerts/rules/{rid}")
    assert saved["kind"] == "spike" and saved["name"] == "spiky"
    assert saved["config"] == {"factor": "3", "baseline": "rolling_7d"}
    assert saved["scope"] == {"provider": "openai", "tags": {"pr": "101"}}
    assert (saved["group_by"], saved["timezone"], saved["cooldown_minutes"]) == (
        "tag:pr",
        "Europe/Berlin",
        90,
    )
    assert saved["enabled"] is True and saved["target_ids"] == [target["id"]]
    assert list(table(at, "Kind")["Config"]) == ["today over 3× the 7-day daily mean"]
    assert at.text_input(key=f"{k}name").value == "spiky"  # reloaded from the saved rule


async def seed_history(env: Running, rule_id: str, target_id: str) -> None:
    """Fires and delivery attempts as alertd records them (alertd is not part of this stack)."""
    db = env.stack.services.db  # type: ignore[union-attr]
    store = AlertStore(db)
    rule = store.rule(env.org.id, rule_id)
    now = datetime.now(UTC)
    ok = store.claim(
        rule, Breach("cust-1", "2026-10-15", Decimal("123.456789"), Decimal("100.5"), {}), 0, now
    )
    assert ok is not None
    store.record_delivery(
        env.org.id,
        target_id=target_id,
        attempt=1,
        ok=True,
        status_code=200,
        error="",
        fire_id=ok.id,
    )
    store.set_fire_status(ok.id, "delivered")
    bad = store.claim(
        rule, Breach("cust-2", "2026-10-15", Decimal("100.50000001"), Decimal("100.5"), {}), 0, now
    )
    assert bad is not None
    store.record_delivery(
        env.org.id,
        target_id=target_id,
        attempt=1,
        ok=False,
        status_code=503,
        error="HTTP 503: busy",
        fire_id=bad.id,
    )
    store.record_delivery(
        env.org.id,
        target_id=target_id,
        attempt=2,
        ok=False,
        status_code=None,
        error="ConnectError: refused",
        fire_id=bad.id,
    )
    store.set_fire_status(bad.id, "failed")
    lone = store.claim(rule, Breach("", "2026-10-16", Decimal("0.0035"), Decimal("0"), {}), 0, now)
    assert lone is not None
    store.set_fire_status(lone.id, "no_targets")


async def test_history_and_delivery_log_show_exact_decimals(dashboard_env: Running) -> None:
    target = await new_target(dashboard_env, "http://127.0.0.1:9/hook")
    rule = await new_rule(dashboard_env, [target["id"]], group_by="customer")
    other = await new_rule(dashboard_env, [], name="quiet")
    await seed_history(dashboard_env, rule["id"], target["id"])
    at = await open_page(PAGE)
    history = table(at, "Observed")
    rows = {
        r["Group"]: (
            r["Rule"],
            r["Period"],
            r["Observed"],
            r["Threshold"],
            r["Status"],
            r["Attempts"],
        )
        for r in history.to_dict("records")
    }
    assert rows == {
        "cust-1": ("daily cap", "2026-10-15", "$123.456789", "$100.50", "delivered", "1"),
        "cust-2": ("daily cap", "2026-10-15", "$100.50000001", "$100.50", "failed", "2"),
        "—": ("daily cap", "2026-10-16", "$0.0035", "$0.00", "no_targets", "0"),
    }
    fired = (await api(dashboard_env, "GET", "/v1/alerts/history"))["fires"]
    assert sorted(f["observed_usd"] for f in fired) == ["0.0035", "100.50000001", "123.456789"]
    log = table(at, "HTTP status").to_dict("records")
    assert [(r["Attempt"], r["Result"], r["HTTP status"], r["Error"], r["Kind"]) for r in log] == [
        ("2", "failed", "—", "ConnectError: refused", "alert"),
        ("1", "failed", "503", "HTTP 503: busy", "alert"),
        ("1", "delivered", "200", "", "alert"),
    ]
    assert {r["Target"] for r in log} == {"receiver"}
    at.selectbox(key="history_rule").select(other["id"])
    await run(at)
    assert "No alert has fired." in texts(at.markdown)


async def test_a_read_only_key_sees_the_lists_without_write_controls(
    dashboard_env: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret_url = "http://alice:pw-secret@127.0.0.1:9/hook/tok-path?token=tok-query"
    target = await new_target(dashboard_env, secret_url)
    rule = await new_rule(dashboard_env, [target["id"]])
    await seed_history(dashboard_env, rule["id"], target["id"])
    db = dashboard_env.stack.services.db  # type: ignore[union-attr]
    viewer = db.create_key(dashboard_env.org.id, "viewer", ("read",)).secret
    monkeypatch.setenv("COSTOBS_DASHBOARD_API_KEY", viewer)
    at = await open_page(PAGE)
    assert any("no admin scope" in i and "read-only" in i for i in texts(at.info))
    assert list(table(at, "Kind")["Name"]) == ["daily cap"]
    targets = table(at, "URL")
    assert list(targets["Name"]) == ["receiver"]
    # the URL's secrets (password, path and query tokens) are not shown to a read key
    assert list(targets["URL"]) == ["http://127.0.0.1:9/…"]
    shown = targets.to_string() + " ".join(texts(at.markdown) + texts(at.info))
    assert not any(secret in shown for secret in ("pw-secret", "tok-path", "tok-query"))
    assert len(table(at, "Observed")) == 3
    assert len(table(at, "HTTP status")) == 3
    assert not at.button  # no create, toggle, delete or test buttons (forms included)
    assert not at.text_input and not at.text_area and not at.expander
    assert not at.code  # and no secret


# --- the pure formatting --------------------------------------------------------------------


def test_rule_body_from_form_text() -> None:
    body = view.rule_body(
        name=" cap ",
        kind="daily_threshold",
        config=view.kind_config("daily_threshold", " 0.10 ", "", "rolling_7d", ""),
        scope_fields={"customer": "a, b", "model": " gpt-4o ", "team": " "},
        tags_text="pr = 101\n\nenv=prod, dev\n",
        group_by=view.GROUP_TAG,
        group_tag="pr",
        timezone="",
        cooldown_minutes=60,
        enabled=False,
        target_ids=["t1"],
    )
    assert body == {
        "name": "cap",
        "kind": "daily_threshold",
        "config": {"threshold_usd": "0.10"},
        "scope": {
            "model": "gpt-4o",
            "customer": ["a", "b"],
            "tags": {"pr": "101", "env": ["prod", "dev"]},
        },
        "group_by": "tag:pr",
        "timezone": None,
        "cooldown_minutes": 60,
        "enabled": False,
        "target_ids": ["t1"],
    }
    assert view.kind_config("spike", "", " 3 ", "yesterday", "") == {
        "factor": "3",
        "baseline": "yesterday",
    }
    assert view.kind_config("projected_monthly_budget", "", "", "", "") == {}
    with pytest.raises(ValueError, match="expected KEY=VALUE"):
        view.parse_tags("just-a-key")
    with pytest.raises(ValueError, match="tag key"):
        view.rule_body(
            name="x",
            kind="spike",
            config={},
            scope_fields={},
            tags_text="",
            group_by="tag:",
            group_tag=" ",
            timezone=None,
            cooldown_minutes=1,
            enabled=True,
            target_ids=[],
        )


def test_form_values_read_back_as_the_same_rule() -> None:
    rules = [
        {
            "name": "cap",
            "kind": "daily_threshold",
            "config": {"threshold_usd": "0.10"},
            "scope": {"customer": ["a", "b"], "model": "gpt-4o", "tags": {"env": ["p", "d"]}},
            "group_by": "tag:pr",
            "timezone": None,
            "cooldown_minutes": 60,
            "enabled": False,
            "target_ids": ["t1"],
        },
        {
            "name": "spike",
            "kind": "spike",
            "config": {"factor": "2.5", "baseline": "yesterday"},
            "scope": {},
            "group_by": "customer",
            "timezone": "Asia/Kolkata",
            "cooldown_minutes": 1440,
            "enabled": True,
            "target_ids": [],
        },
        {
            "name": "budget",
            "kind": "projected_monthly_budget",
            "config": {"budget_usd": "1000.000001"},
            "scope": {"tags": {}},
            "group_by": None,
            "timezone": None,
            "cooldown_minutes": 5,
            "enabled": True,
            "target_ids": ["a", "b"],
        },
    ]
    for rule in rules:
        v = view.form_values(rule)
        body = view.rule_body(
            name=v["name"],
            kind=v["kind"],
            config=view.kind_config(
                v["kind"], v["threshold"], v["factor"], v["baseline"], v["budget"]
            ),
            scope_fields={f: v[f"scope_{f}"] for f in view.SCOPE_FIELDS},
            tags_text=v["tags"],
            group_by=v["group_by"] or None,
            group_tag=v["group_tag"],
            timezone=v["tz"] or None,
            cooldown_minutes=v["cooldown"],
            enabled=v["enabled"],
            target_ids=v["targets"],
        )
        expected = dict(rule)
        if not expected["scope"].get("tags"):
            expected["scope"] = {k: x for k, x in expected["scope"].items() if k != "tags"}
        assert body == expected


def test_readable_config_scope_and_cooldown() -> None:
    assert view.config_text("daily_threshold", {"threshold_usd": "50"}) == "spend over $50.00 a day"
    assert (
        view.config_text("spike", {"factor": "2", "baseline": "rolling_7d"})
        == "today over 2× the 7-day daily mean"
    )
    assert (
        view.config_text("projected_monthly_budget", {"budget_usd": "999.999"})
        == "month-end forecast over $999.999"
    )
    # a limit set in the display currency reads in that currency, not as dollars
    assert (
        view.config_text("monthly_budget", {"budget": "900", "currency": "EUR"})
        == "month to date over 900.00 EUR"
    )
    assert (
        view.config_text("daily_threshold", {"threshold": "1234.5", "currency": "JPY"})
        == "spend over 1,234 JPY a day"
    )
    assert view.scope_text({}) == "all spend"
    assert view.scope_text({"tags": {"a": ["x", "y"]}}) == "tag a=x | y"
    assert [view.cooldown_text(m) for m in (1440, 2880, 120, 90)] == ["1 d", "2 d", "2 h", "90 min"]
