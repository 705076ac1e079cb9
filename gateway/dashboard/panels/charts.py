"""Chart specs: what `static/dashboard.js` hands to uPlot, as JSON embedded in the page
(x values are epoch seconds; None draws a gap)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

Unit = Literal["requests", "percent", "ms", "usd", "value"]


@dataclass(frozen=True)
class Line:
    label: str
    colour: str
    values: Sequence[float | None]
    dash: bool = False  # a reference line (a margin, zero)


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    unit: Unit
    x: Sequence[float]
    lines: Sequence[Line]
    kind: Literal["line", "interval"] = "line"
    height: int = 200
    # For "interval": the indexes of the lines that bound the shaded band (low, high).
    band: tuple[int, int] | None = None
    y_range: tuple[float, float] | None = None  # None: fitted to the values

    def spec(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "unit": self.unit,
            "kind": self.kind,
            "height": self.height,
            "band": list(self.band) if self.band else None,
            "y_range": list(self.y_range) if self.y_range else None,
            "x": list(self.x),
            "lines": [
                {"label": ln.label, "colour": ln.colour, "values": list(ln.values), "dash": ln.dash}
                for ln in self.lines
            ],
        }

    @property
    def points(self) -> int:
        """Values drawn (not gaps): a chart with none says so instead of drawing axes."""
        return sum(v is not None for line in self.lines if not line.dash for v in line.values)


def epoch_seconds(times: Sequence[datetime]) -> list[float]:
    return [t.timestamp() for t in times]
