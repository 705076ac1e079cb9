"""Two monitor processes evaluating the same window at the same moment: the window is
evaluated once and each notification reaches each receiver once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.webhook_receiver import WebhookReceiver
from tests.registry.alerts_support import MINUTE, T0, Alerting, alerting
from tests.support.approvers import MASTER_KEY

__all__ = ["alerting"]

CHILD = Path(__file__).with_name("monitor_child.py")
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_two_monitors_on_one_window_send_each_notification_once(
    alerting: Alerting, pg_url: str
) -> None:
    alerting.set_rules(
        {
            "name": "errors",
            "kind": "threshold",
            "metric": "error_rate",
            "above": 0.1,
            "window": "1m",
        }
    )
    alerting.plant(T0, 100, 50, version=1)
    alerting.plant(T0, 100, 60, version=2)  # two alerts: one per version
    env = {**os.environ, "MODELOPS_MASTER_KEY": MASTER_KEY, "PYTHONPATH": str(REPO)}
    window = (T0 + MINUTE).isoformat()
    with WebhookReceiver() as first, WebhookReceiver() as second:
        alerting.add_channel("oncall", first.hook_url)
        alerting.add_channel("audit", second.hook_url)
        command = [sys.executable, str(CHILD), pg_url, window]
        pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE}
        children = [subprocess.Popen(command, env=env, text=True, **pipes) for _ in range(2)]
        for child in children:  # both connected, then both let go at once
            assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        reports = [json.loads(child.communicate(timeout=120)[0]) for child in children]
        assert [child.returncode for child in children] == [0, 0]
        assert sorted(report["evaluated"] for report in reports) == [False, True]
        print(f"\ntwo monitors on one window: {reports}")  # the figures, for `pytest -s`
        assert sum(report["delivered"] for report in reports) == 4
        for hooks in (first, second):
            assert len(hooks.requests) == 2 and len(set(hooks.ids)) == 2
    rows = alerting.notifications()
    assert [(row.status, row.attempts) for row in rows] == [("delivered", 1)] * 4
