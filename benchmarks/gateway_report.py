"""What the gateway benchmark prints: per-leg figures, the ratios its targets are stated in
(modelops against LiteLLM in the same run), as a text table or as JSON."""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field

from benchmarks.gateway_wrk import WrkResult

# (figure, how modelops's must compare with LiteLLM's, bound): DESIGN §7's targets.
TARGETS = (
    ("added_p50", "<=", 0.1),
    ("rps_c32", ">=", 20.0),
    ("cpu_ms_per_request", "<=", 0.1),
)
TARGET_LABELS = {
    "added_p50": "added p50 at c=1",
    "rps_c32": "throughput at c=32",
    "cpu_ms_per_request": "CPU per request",
}
# Below this many times a proxy's throughput, the upstream may be what limits that proxy.
UPSTREAM_HEADROOM = 5.0


@dataclass
class LegResult:
    name: str
    label: str
    status: str  # "ok" | "skipped" | "broken"
    reason: str = ""
    stream_check: str = ""  # "ok", or what was wrong with the streamed answer
    c1: list[WrkResult] = field(default_factory=list)  # one run per round
    c32: list[WrkResult] = field(default_factory=list)
    cpu_seconds_c32: float = 0.0  # the server tree's, over all c=32 runs
    extra: dict[str, object] = field(default_factory=dict)

    def figures(self, direct: LegResult | None) -> dict[str, float | None]:
        """Medians over the rounds; CPU per request over all c=32 requests together."""
        p50 = _median([run.p50_ms for run in self.c1])
        base = _median([run.p50_ms for run in direct.c1]) if direct is not None else None
        served = sum(run.requests for run in self.c32)
        return {
            "p50_c1": p50,
            "p99_c1": _median([run.p99_ms for run in self.c1]),
            "added_p50": p50 - base if p50 is not None and base is not None else None,
            "rps_c1": _median([run.rps for run in self.c1]),
            "rps_c32": _median([run.rps for run in self.c32]),
            "cpu_ms_per_request": self.cpu_seconds_c32 * 1000 / served if served else None,
        }

    def counts(self) -> dict[str, object]:
        return {
            "requests_c1": sum(run.requests for run in self.c1),
            "requests_c32": sum(run.requests for run in self.c32),
            "errors": sum(run.failed for run in self.c1 + self.c32),
            "p50_c1_per_round": [run.p50_ms for run in self.c1],
            "rps_c32_per_round": [run.rps for run in self.c32],
        }


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def ratios(
    ours: Mapping[str, float | None], theirs: Mapping[str, float | None]
) -> dict[str, object]:
    """Each target's figure as ours / theirs, and whether it meets the bound (None: unknown)."""
    result: dict[str, object] = {}
    for key, sense, bound in TARGETS:
        mine, other = ours.get(key), theirs.get(key)
        ratio = mine / other if mine is not None and other else None
        met = None if ratio is None else (ratio <= bound if sense == "<=" else ratio >= bound)
        result[key] = {"ratio": ratio, "target": f"{sense} {bound:g}", "met": met}
    return result


def report(results: list[LegResult], context: dict[str, object]) -> dict[str, object]:
    by_name = {result.name: result for result in results}
    direct = by_name.get("direct")
    direct = direct if direct is not None and direct.status == "ok" else None
    legs = {}
    for result in results:
        legs[result.name] = {
            "label": result.label,
            "status": result.status,
            "reason": result.reason,
            **result.figures(direct),
            **result.counts(),
            "stream_check": result.stream_check,
            **result.extra,
        }
    theirs = by_name.get("litellm")
    compared: dict[str, object] = {}  # per modelops leg (one per HTTP server)
    for ours in results:
        if ours.name.startswith("modelops") and theirs and ours.status == theirs.status == "ok":
            compared[ours.name] = ratios(ours.figures(direct), theirs.figures(direct))
    ceiling = direct.figures(direct)["rps_c32"] if direct else None
    return {
        **context,
        "upstream_ceiling_rps": ceiling,
        "legs": legs,
        "modelops_vs_litellm": compared.get("modelops"),
        "vs_litellm": compared,
    }


def _ms(value: object) -> str:
    if not isinstance(value, float | int):
        return "—"
    return f"{value:.3f}" if abs(value) < 1 else f"{value:.2f}"


def _rps(value: object) -> str:
    return f"{value:,.0f}" if isinstance(value, float | int) else "—"


def text_table(data: dict[str, object]) -> str:
    rounds = data["rounds"]
    lines = [
        f"gateway benchmark: per leg {rounds} round(s) of {data['duration_s']} s at c=1 and at "
        f"c=32, legs interleaved, after a {data['warmup_s']} s warm-up"
        + (" (figures: medians of the rounds)" if rounds != 1 else ""),
        f"wrk 1 thread; {data['cpus']} CPUs; load average {data['load_before']} before, "
        f"{data['load_after']} after",
        "",
        f"{'leg':<34} {'p50 c=1':>8} {'p99 c=1':>8} {'added p50':>9} {'rps c=1':>8} "
        f"{'rps c=32':>8} {'CPU/req':>8} {'errors':>6}",
        f"{'':<34} {'ms':>8} {'ms':>8} {'ms':>9} {'':>8} {'':>8} {'ms':>8} {'':>6}",
    ]
    legs = data["legs"]
    assert isinstance(legs, dict)
    for leg in legs.values():
        if leg["status"] != "ok":
            lines.append(f"{leg['label']:<34} {leg['status']}: {leg['reason']}")
            continue
        lines.append(
            f"{leg['label']:<34} {_ms(leg['p50_c1']):>8} {_ms(leg['p99_c1']):>8} "
            f"{_ms(leg['added_p50']):>9} {_rps(leg['rps_c1']):>8} {_rps(leg['rps_c32']):>8} "
            f"{_ms(leg['cpu_ms_per_request']):>8} {leg['errors']:>6}"
        )
    lines += _notes(legs)
    every = data["vs_litellm"]
    assert isinstance(every, dict)
    for name, compared in every.items():
        lines += ["", f"{name + ' / LiteLLM':<24} {'ratio':>8}  target"]
        for key, row in compared.items():
            ratio = row["ratio"]
            shown = f"{ratio:.3g}" if ratio is not None else "—"
            verdict = {True: "met", False: "NOT met", None: "unknown"}[row["met"]]
            lines.append(f"{TARGET_LABELS[key]:<24} {shown:>8}  {row['target']:<6} {verdict}")
    return "\n".join(lines)


def _notes(legs: dict[str, dict[str, object]]) -> list[str]:
    notes = []
    direct = legs.get("direct")
    if direct and direct["status"] == "ok":
        ceiling = direct["rps_c32"]
        notes.append(
            f"upstream ceiling (direct, c=32): {_rps(ceiling)} rps; direct's CPU/req is the "
            "upstream's own"
        )
        for leg in legs.values():
            rps = leg.get("rps_c32")
            if leg is direct or not isinstance(rps, float) or not isinstance(ceiling, float):
                continue
            if ceiling < UPSTREAM_HEADROOM * rps:
                notes.append(f"  warning: the upstream may limit {leg['label']}")
    else:
        notes.append("no direct leg: added latency is unknown")
    for leg in legs.values():
        if leg["status"] == "ok" and leg["stream_check"] != "ok":
            notes.append(f"{leg['label']}: streaming check failed: {leg['stream_check']}")
        if "outcome_rows" in leg:
            recorded = "every outcome recorded" if leg["every_outcome_recorded"] else "MISSING"
            notes.append(
                f"{leg['label']}: {leg['outcome_rows']} outcome rows for "
                f"{leg['requests_completed']} completed requests ({recorded})"
            )
    return ["", *notes]
