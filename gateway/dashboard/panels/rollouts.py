"""Rollouts, the ones in progress first: the steps and where the candidate stands, and the
error rate of each arm at every measurement, with the verdict it led to."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from gateway.dashboard.panels import Panel, View
from gateway.dashboard.panels.charts import Chart, Line
from gateway.dashboard.render import version_colour
from registry.rollouts.domain import ACTIVE, Measurement, Rollout
from registry.rollouts.repository import RolloutRepository

ROLLOUTS_SHOWN = 6
MEASUREMENTS_DRAWN = 200  # the latest
MEASUREMENTS_LISTED = 5
BASELINE = "#868e96"


@dataclass(frozen=True)
class RolloutView:
    rollout: Rollout
    latest: list[Measurement]  # newest first
    chart: Chart | None
    flow_run_url: str | None

    @property
    def active(self) -> bool:
        return self.rollout.status in ACTIVE


def read_rollouts(session: Session, view: View) -> list[RolloutView]:
    rollouts = RolloutRepository(session, view.team)
    listed = sorted(rollouts.list(), key=lambda r: (r.status not in ACTIVE, -r.id))
    shown = []
    for rollout in listed[:ROLLOUTS_SHOWN]:
        measured = rollouts.measurements(rollout.id)[-MEASUREMENTS_DRAWN:]
        shown.append(
            RolloutView(
                rollout=rollout,
                latest=measured[::-1][:MEASUREMENTS_LISTED],
                chart=_error_chart(rollout, measured) if measured else None,
                flow_run_url=view.prefect.flow_run(rollout.flow_run_id),
            )
        )
    return shown


def _error_chart(rollout: Rollout, measured: list[Measurement]) -> Chart:
    x = [m.at.timestamp() for m in measured]
    lines = [
        Line("baseline", BASELINE, [m.baseline.error_rate for m in measured]),
        Line(
            f"v{rollout.version}",
            version_colour(rollout.version),
            [m.candidate.error_rate for m in measured],
        ),
    ]
    return Chart(
        f"rollout-{rollout.id}-errors",
        "Error rate at each measurement",
        "percent",
        x,
        lines,
        height=140,
    )


PANEL = Panel("rollouts", "panels/rollouts.html", read_rollouts)
