"""A panel is one box of a dashboard page: a read (through the registry, in a worker
thread, one session) and the template that draws what it read.

To add one: a module here with a `read(session, view)` returning a plain object, a template
`templates/panels/<name>.html` that draws it from `data`, and a `Panel(...)` listed in the
page that shows it (`gateway.dashboard.pages`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from registry.domain import Team


@dataclass(frozen=True)
class Window:
    """How far back the charts look: `points` steps of `step_minutes`."""

    name: str
    points: int
    step_minutes: int


WINDOWS = {
    w.name: w
    for w in (
        Window("1h", 60, 1),
        Window("6h", 72, 5),
        Window("24h", 96, 15),
        Window("7d", 168, 60),
    )
}
DEFAULT_WINDOW = WINDOWS["6h"]


@dataclass(frozen=True)
class PrefectLinks:
    """Links into the Prefect UI, when the gateway knows where it is."""

    ui_url: str  # empty: no links, ids shown as text

    def flow_run(self, flow_run_id: str | None) -> str | None:
        if not self.ui_url or not flow_run_id:
            return None
        return f"{self.ui_url}/runs/flow-run/{flow_run_id}"

    @property
    def runs(self) -> str | None:
        return f"{self.ui_url}/runs" if self.ui_url else None


@dataclass(frozen=True)
class View:
    """What every read is given: whose data, as of when, over which window, and the
    subject of a detail page (an endpoint or model name; empty on the overview)."""

    team: Team
    now: datetime
    window: Window
    prefect: PrefectLinks
    subject: str = ""


@dataclass(frozen=True)
class Panel:
    name: str
    template: str
    read: Callable[[Session, View], Any]


__all__ = ["DEFAULT_WINDOW", "WINDOWS", "Panel", "PrefectLinks", "View", "Window"]
