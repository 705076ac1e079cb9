"""`modelops channels …` and `modelops alerts …` as an operator runs them, against a real
PostgreSQL database and real receivers on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from registry.alerts.channel_spec import new_webhook_secret
from registry.alerts.tables import ChannelRow, NotificationRow
from registry.database import make_engine, make_session_factory
from registry.keys.crypto import new_master_key
from tests.cli.conftest import Cli, Result
from tests.fakes.server import Fault
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.registry.alerts_support import MINUTE, T0, Alerting, FakeClock, seed_alerting
from tests.support.approvers import MASTER_KEY, ring

SLACK_URL = "http://127.0.0.1:9/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX"
ROUTING_KEY = "R0UT1NGKEY0123456789abcdefABCDEF"


@pytest.fixture
def alerting_env(pg_url: str) -> Iterator[tuple[Alerting, dict[str, str]]]:
    engine = make_engine(pg_url)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        team, endpoint_id, versions = seed_alerting(session)
    env = {
        "MODELOPS_DATABASE_URL": pg_url,
        "MODELOPS_TEAM": "default",
        "MODELOPS_MASTER_KEY": MASTER_KEY,
    }
    yield Alerting(sessions, team, endpoint_id, versions, ring(), FakeClock()), env
    engine.dispose()


def _add(cli: Cli, env: dict[str, str], *args: str, stdin: str = "") -> Result:
    return cli("channels", "add", *args, env=env, stdin=stdin)


def _channels(alerting: Alerting) -> int:
    with alerting.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(ChannelRow)) or 0)


def test_a_webhook_channel_takes_its_secret_on_stdin_and_never_shows_it(
    cli: Cli, alerting_env: tuple[Alerting, dict[str, str]]
) -> None:
    alerting, env = alerting_env
    secret = new_webhook_secret()
    url = "https://hooks.example.com/modelops"
    added = _add(cli, env, "oncall", "--kind", "webhook", "--url", url, stdin=secret + "\n")
    listed = cli("channels", "list", "--json")
    assert added.code == 0, added.err
    assert "added webhook channel oncall (https://hooks.example.com/modelops)" in added.out
    [channel] = json.loads(listed.out)
    assert channel["events"] == ["alert.*"] and channel["send_resolved"] is True
    assert channel["severities"] == ["critical", "error", "warning", "info"]
    assert channel["repeat_interval_seconds"] == 4 * 3600
    for result in (added, listed):
        assert secret not in result.out + result.err
    with alerting.sessions() as session:
        row = session.scalars(select(ChannelRow)).one()
        stored = b"".join([row.ciphertext, row.nonce, row.wrapped_dek, row.url.encode()])
    assert secret.encode() not in stored and secret.removeprefix("whsec_").encode() not in stored


def test_a_slack_url_is_the_secret_so_it_comes_on_stdin_and_is_shown_by_host_only(
    cli: Cli, alerting_env: tuple[Alerting, dict[str, str]]
) -> None:
    alerting, env = alerting_env
    added = _add(cli, env, "team-chat", "--kind", "slack", stdin=SLACK_URL)
    listed = cli("channels", "list")
    assert added.code == 0, added.err
    assert "XXXXXXXX" not in added.out + listed.out
    assert "http://127.0.0.1:9/…" in listed.out
    [channel] = json.loads(cli("channels", "list", "--json").out)
    assert channel["send_resolved"] is False  # Alertmanager's default for Slack
    on_argv = _add(cli, env, "other", "--kind", "slack", "--url", SLACK_URL)
    assert on_argv.code == 2 and "give it on stdin" in on_argv.err
    assert "XXXXXXXX" not in on_argv.err and _channels(alerting) == 1


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (
            ["--kind", "webhook", "--url", "ftp://hooks.example.com/x"],
            "SECRET",
            "is not an http(s) URL",
        ),
        (["--kind", "webhook", "--url", "file:///etc/passwd"], "SECRET", "is not an http(s) URL"),
        (
            ["--kind", "webhook", "--url", "https://u:p@hooks.example.com/"],
            "SECRET",
            "must not carry a user",
        ),
        (["--kind", "webhook"], "SECRET", "a webhook channel needs --url"),
        (
            ["--kind", "webhook", "--url", "https://h.example.com", "--event", "alert.fired"],
            "SECRET",
            "'alert.fired' matches no event (did you mean 'alert.firing'?)",
        ),
        (
            ["--kind", "webhook", "--url", "https://h.example.com", "--severity", "page"],
            "SECRET",
            "'page' is not one of",
        ),
        (
            ["--kind", "webhook", "--url", "https://h.example.com", "--repeat-interval", "90s"],
            "SECRET",
            "--repeat-interval: '90s' is not a duration",
        ),
        (
            ["--kind", "webhook", "--url", "https://h.example.com"],
            "not-a-whsec-secret",
            "a Standard Webhooks secret is whsec_",
        ),
        (["--kind", "pagerduty"], "short-key", "a PagerDuty routing key is 32 letters and digits"),
        (
            ["--kind", "pagerduty", "--event", "model.promoted"],
            ROUTING_KEY,
            "PagerDuty channels take alert events only",
        ),
        (["--kind", "sms"], "SECRET", "'sms' is not one of"),
    ],
)
def test_bad_channel_input_is_refused_precisely_and_stores_nothing(
    cli: Cli,
    alerting_env: tuple[Alerting, dict[str, str]],
    args: list[str],
    stdin: str,
    message: str,
) -> None:
    alerting, env = alerting_env
    secret = new_webhook_secret() if stdin == "SECRET" else stdin
    refused = _add(cli, env, "oncall", *args, stdin=secret)
    assert refused.code == 2, refused.out
    assert message in refused.err
    assert secret not in refused.err + refused.out
    assert _channels(alerting) == 0


def test_a_secret_on_the_command_line_is_refused_without_being_echoed(
    cli: Cli, alerting_env: tuple[Alerting, dict[str, str]]
) -> None:
    alerting, env = alerting_env
    secret = new_webhook_secret()
    url = "https://hooks.example.com/x"
    refused = _add(cli, env, "oncall", "--kind", "webhook", "--url", url, secret, stdin=secret)
    assert refused.code == 2
    assert "never from arguments" in refused.err
    assert secret not in refused.err + refused.out
    assert _channels(alerting) == 0


def test_channel_test_delivers_a_signed_message_and_a_410_disables_the_channel(
    cli: Cli, alerting_env: tuple[Alerting, dict[str, str]]
) -> None:
    _, env = alerting_env
    secret = new_webhook_secret()
    with WebhookReceiver(secret) as hooks:
        _add(cli, env, "oncall", "--kind", "webhook", "--url", hooks.hook_url, stdin=secret)
        tested = cli("channels", "test", "oncall")
        assert tested.code == 0, tested.err
        [delivery] = hooks.deliveries
        assert json.loads(delivery.body)["type"] == "channel.test"
        assert f"message {delivery.headers['webhook-id']}" in tested.out
        hooks.script(None, Fault(status=410, message="endpoint deleted"))
        gone = cli("channels", "test", "oncall")
        listed = json.loads(cli("channels", "list", "--json").out)
        again = cli("channels", "test", "oncall")
    assert gone.code == 1 and "HTTP 410" in gone.err
    [channel] = listed
    assert channel["status"] == "disabled"
    assert (
        "HTTP 410" in channel["disabled_reason"]
        and "endpoint deleted" in channel["disabled_reason"]
    )
    assert "channels enable oncall" in channel["disabled_reason"]
    assert again.code == 2 and "is disabled" in again.err
    assert cli("channels", "enable", "oncall").code == 0
    assert json.loads(cli("channels", "list", "--json").out)[0]["status"] == "active"


def test_alerts_list_ack_and_resolve(
    cli: Cli, alerting_env: tuple[Alerting, dict[str, str]]
) -> None:
    alerting, env = alerting_env
    alerting.set_rules(
        {
            "name": "errors",
            "kind": "threshold",
            "metric": "error_rate",
            "above": 0.1,
            "window": "1m",
        }
    )
    alerting.plant(T0, 100, 50)
    alerting.evaluate(T0 + MINUTE)
    listed = cli("alerts", "list", "--json", env=env)
    [alert] = json.loads(listed.out)
    assert (alert["state"], alert["rule"], alert["labels"]["version"]) == ("firing", "errors", "1")
    shown = cli("alerts", "list")
    assert "support-intent/errors" in shown.out and "support-intent-prod v1" in shown.out
    acked = cli("alerts", "ack", str(alert["id"]), "--actor", "ann", "--for", "2h", "--json")
    assert acked.code == 0, acked.err
    assert json.loads(acked.out)["acknowledged_by"] == "ann"
    bad_for = cli("alerts", "ack", str(alert["id"]), "--actor", "ann", "--for", "soon")
    assert bad_for.code == 2 and "--for: 'soon' is not a duration" in bad_for.err
    resolved = cli("alerts", "resolve", str(alert["id"]), "--actor", "ann")
    assert resolved.code == 0 and f"alert {alert['id']} resolved by ann" in resolved.out
    assert json.loads(cli("alerts", "list", "--json").out) == []
    assert json.loads(cli("alerts", "list", "--all", "--json").out)[0]["resolved_by"] == "ann"
    twice = cli("alerts", "resolve", str(alert["id"]), "--actor", "ann")
    missing = cli("alerts", "ack", "999", "--actor", "ann")
    assert twice.code == 2 and "already resolved" in twice.err
    assert missing.code == 2 and "no alert 999" in missing.err


def test_alerts_rules_lists_what_the_catalog_declared(
    cli: Cli, alerting_env: tuple[Alerting, dict[str, str]]
) -> None:
    alerting, env = alerting_env
    alerting.set_rules(
        {"name": "slo", "kind": "burn_rate", "objective": 0.999, "severity": "critical"},
        {"name": "keys-gone", "kind": "key_pool", "condition": "exhausted", "escalation": ["15m"]},
    )
    listed = cli("alerts", "rules", env=env)
    as_json = json.loads(cli("alerts", "rules", "--json").out)
    assert listed.code == 0 and "every local key cooling or disabled" in listed.out
    assert as_json[0]["condition"] == (
        "error budget of 0.999 burning 14.4x over 1h and 5m, 6x over 6h and 30m, 1x over 3d and 6h"
    )
    assert [(rule["model"], rule["name"], rule["kind"]) for rule in as_json] == [
        ("support-intent", "slo", "burn_rate"),
        ("support-intent", "keys-gone", "key_pool"),
    ]
    assert as_json[1]["escalation"] == [900]


def test_nothing_is_sent_for_a_channel_added_by_another_team(
    cli: Cli, alerting_env: tuple[Alerting, dict[str, str]]
) -> None:
    alerting, env = alerting_env
    secret = new_webhook_secret()
    other = {**env, "MODELOPS_TEAM": "other"}
    with WebhookReceiver() as hooks:
        _add(cli, other, "theirs", "--kind", "webhook", "--url", hooks.hook_url, stdin=secret)
        alerting.set_rules(
            {
                "name": "errors",
                "kind": "threshold",
                "metric": "error_rate",
                "above": 0.1,
                "window": "1m",
            }
        )
        alerting.plant(T0, 100, 50)
        alerting.run(T0 + MINUTE)
        assert hooks.deliveries == []
    assert json.loads(cli("channels", "list", "--json", env=env).out) == []
    with alerting.sessions() as session:
        assert session.scalar(select(func.count()).select_from(NotificationRow)) == 0


def test_rotate_master_rewraps_channel_secrets_so_the_old_key_can_go(
    cli: Cli, alerting_env: tuple[Alerting, dict[str, str]]
) -> None:
    _, env = alerting_env
    secret, newer = new_webhook_secret(), new_master_key()
    with WebhookReceiver(secret) as hooks:
        _add(cli, env, "oncall", "--kind", "webhook", "--url", hooks.hook_url, stdin=secret)
        both = {**env, "MODELOPS_MASTER_KEY": f"v2:{newer},v1:{MASTER_KEY}"}
        rotated = cli("channels", "rotate-master", env=both)
        again = cli("channels", "rotate-master", "--json")
        only_new = {**env, "MODELOPS_MASTER_KEY": newer}
        tested = cli("channels", "test", "oncall", env=only_new)
        assert len(hooks.deliveries) == 1 and hooks.refused == []
    assert rotated.code == 0 and "re-wrapped 1 channel secrets onto master v2" in rotated.out
    assert json.loads(again.out) == {"rewrapped": 0, "already_current": 1, "unreadable": []}
    assert tested.code == 0, tested.err


def test_alerts_show_gives_the_timeline_and_every_notification(
    cli: Cli, alerting_env: tuple[Alerting, dict[str, str]]
) -> None:
    alerting, env = alerting_env
    alerting.set_rules(
        {
            "name": "errors",
            "kind": "threshold",
            "metric": "error_rate",
            "above": 0.1,
            "window": "1m",
        }
    )
    alerting.plant(T0, 100, 50)
    with WebhookReceiver() as hooks:
        alerting.add_channel("oncall", hooks.hook_url)
        alerting.run(T0 + MINUTE)
    [alert] = json.loads(cli("alerts", "list", "--json", env=env).out)
    shown = cli("alerts", "show", str(alert["id"]))
    as_json = json.loads(cli("alerts", "show", str(alert["id"]), "--json").out)
    assert shown.code == 0, shown.err
    assert f"alert {alert['id']}: support-intent/errors is firing (warning)" in shown.out
    assert "fired: 2026-12-01 12:01:00" in shown.out
    assert [(n["channel"], n["event_type"], n["status"]) for n in as_json["notifications"]] == [
        ("oncall", "alert.firing", "delivered")
    ]
