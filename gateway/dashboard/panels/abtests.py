"""A/B tests, the active ones first: at each look, the primary metric's difference (b - a)
with its interval, drawn against zero and the minimum detectable effect."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from gateway.dashboard.panels import Panel, View
from gateway.dashboard.panels.charts import Chart, Line, Unit
from registry.abtests import ABTest, ABTestRepository, Look, MetricKind, MetricResult
from registry.abtests.domain import ACTIVE

TESTS_SHOWN = 6
LOOKS_DRAWN = 200  # the latest; a sequential test looks every few minutes for days
INTERVAL = "#3b5bdb"
REFERENCE = "#868e96"
MDE = "#e8590c"


@dataclass(frozen=True)
class ABTestView:
    test: ABTest
    last: MetricResult | None  # the primary metric at the latest look
    chart: Chart | None
    flow_run_url: str | None


def read_abtests(session: Session, view: View) -> list[ABTestView]:
    tests = ABTestRepository(session, view.team)
    listed = sorted(tests.list(), key=lambda t: (t.status not in ACTIVE, -t.id))[:TESTS_SHOWN]
    shown = []
    for test in listed:
        looks = tests.looks(test.id)[-LOOKS_DRAWN:]
        last = looks[-1].result.primary if looks else None
        shown.append(
            ABTestView(
                test=test,
                last=last,
                chart=_interval_chart(test, looks) if looks else None,
                flow_run_url=view.prefect.flow_run(test.flow_run_id),
            )
        )
    return shown


def _interval_chart(test: ABTest, looks: list[Look]) -> Chart:
    """x: when each look was taken; the band: the interval of b - a at that look."""
    primary = [look.result.primary for look in looks]
    # Proportions are drawn as percentage points (the chart formats shares as percents).
    unit: Unit = "percent" if primary[0].kind is MetricKind.PROPORTION else "value"

    mde = test.definition.primary.mde
    n = len(looks)
    lines = [
        Line("low", INTERVAL, [m.diff_ci[0] for m in primary]),
        Line("high", INTERVAL, [m.diff_ci[1] for m in primary]),
        Line("b - a", "#1c2a5e", [m.diff for m in primary]),
        Line("zero", REFERENCE, [0.0] * n, dash=True),
        Line("+MDE", MDE, [mde] * n, dash=True),
        Line("-MDE", MDE, [-mde] * n, dash=True),
    ]
    return Chart(
        id=f"ab-{test.id}",
        title=f"{test.definition.primary.metric}: b - a at each look",
        unit=unit,
        x=[look.at.timestamp() for look in looks],
        lines=lines,
        kind="interval",
        band=(0, 1),
        height=220,
        y_range=_y_range(mde, [m.diff_ci for m in primary]),
    )


def _y_range(mde: float, intervals: list[tuple[float | None, float | None]]) -> tuple[float, float]:
    """Symmetric about zero, showing the MDE with room, but not so wide that the first
    looks' (nearly unbounded) intervals flatten the later ones: at most three MDEs."""
    ends = [abs(end) for interval in intervals for end in interval if end is not None]
    reach = min(3 * mde, max([1.5 * mde, *ends]))
    return -reach, reach


PANEL = Panel("abtests", "panels/abtests.html", read_abtests)
