"""Alerts that are open (pending, firing, acknowledged), most urgent first."""

from __future__ import annotations

from sqlalchemy.orm import Session

from gateway.dashboard.panels import Panel, View
from registry.alerts.domain import Alert
from registry.alerts.repository import AlertRepository

ALERTS_SHOWN = 50


def read_alerts(session: Session, view: View) -> list[Alert]:
    return AlertRepository(session, view.team).list(limit=ALERTS_SHOWN)


PANEL = Panel("alerts", "panels/alerts.html", read_alerts)
