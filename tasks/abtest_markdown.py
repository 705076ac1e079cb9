"""An A/B test as people read it in the Prefect UI: the plan, each look (every metric's
estimates, difference and lift with their intervals, p-values, decision and why), the
verdict, and the look history as a table. Every number is the look's, as stored."""

from __future__ import annotations

from datetime import datetime

from registry.abtests import ABTest, Look, MetricResult, Stopping
from registry.abtests.domain import Interval, Role, SrmSummary
from tasks.promotion_report import markdown_cell, markdown_table

Row = dict[str, str | int | float | bool | None]
METRIC_HEADER = [
    "metric",
    "role",
    "a",
    "b",
    "b - a [interval]",
    "relative lift [interval]",
    "p",
    "Holm p",
    "decision",
    "why",
]


def num(value: float | None) -> str:
    """Six significant digits; None (an unbounded end) reads as such."""
    return "unbounded" if value is None else f"{value:.6g}"


def pct(value: float | None) -> str:
    return "unbounded" if value is None else f"{value:+.2%}"


def interval(bounds: Interval) -> str:
    return f"[{num(bounds[0])}, {num(bounds[1])}]"


def pct_interval(bounds: Interval | None) -> str:
    return "-" if bounds is None else f"[{pct(bounds[0])}, {pct(bounds[1])}]"


def _title(test: ABTest) -> str:
    d = test.definition
    design = "sequential (always-valid)" if d.mode is Stopping.SEQUENTIAL else "fixed horizon"
    return (
        f"v{d.a.version} (a, {d.a.weight}%) vs v{d.b.version} (b, {d.b.weight}%) on "
        f"**{markdown_cell(test.endpoint)}** · {design}, alpha {d.alpha:g}, power {d.power:g}"
    )


def plan_markdown(test: ABTest) -> str:
    plan, d = test.plan, test.definition
    sized = (
        f"{plan.n_a} (a) + {plan.n_b} (b) units; fixed horizon would need "
        f"{plan.fixed_n_a} + {plan.fixed_n_b}"
        if plan.n_a is not None
        else "unknown"
    )
    duration = (
        f"{plan.expected_minutes / 60:.3g} h at {plan.requests_per_minute:.4g} per minute"
        if plan.expected_minutes is not None
        else "unknown"
    )
    guardrails = [_guardrail_text(test, i) for i in range(len(d.guardrails))]
    rows = [
        ("primary", f"{d.primary.metric} ({d.primary.direction} is better), MDE {d.primary.mde:g}"),
        ("guardrails", ", ".join(guardrails) or "none"),
        (f"baseline (v{d.a.version}, last {plan.baseline_minutes} min)", num(plan.baseline)),
        ("sample it implies", sized),
        ("expected duration", duration),
        ("maximum duration", f"{d.max_duration_hours:g} h"),
        ("always-valid tuning n*", num(plan.n_star)),
        ("note", plan.note or "-"),
    ]  # fmt: skip
    return "\n".join(
        [f"## A/B test #{test.id}: plan", "", _title(test), "", *markdown_table(["", ""], rows)]
    )


def _guardrail_text(test: ABTest, index: int) -> str:
    g = test.definition.guardrails[index]
    margin = f"{g.margin:.4g}{' of a' if g.relative else ''}"
    return f"{g.metric} ({g.direction} is better, margin {margin})"


def look_markdown(test: ABTest, look: Look) -> str:
    result = look.result
    head = f"### Verdict: {result.verdict}" if result.verdict else "### Keep looking"
    lines = [
        f"## A/B test #{test.id}: look {look.number}",
        "",
        f"{_title(test)} · {look.at:%Y-%m-%d %H:%M:%S} UTC",
        "",
        head,
        "",
        markdown_cell(result.reason),
        "",
        *markdown_table(METRIC_HEADER, [metric_row(m) for m in result.metrics]),
        "",
        srm_line(result.srm),
    ]
    return "\n".join(lines)


def metric_row(m: MetricResult) -> list[str]:
    if m.role is Role.PRIMARY:
        role = f"primary, MDE {m.threshold:g}"
    else:
        role = f"guardrail, margin {m.threshold:g}{' of a' if m.relative else ''}"
    return [
        f"{m.metric} ({m.better} is better)",
        role,
        f"{num(m.estimate_a)} (n {m.n_a})",
        f"{num(m.estimate_b)} (n {m.n_b})",
        f"{num(m.diff)} {interval(m.diff_ci)}",
        f"{pct(m.rel_lift)} {pct_interval(m.rel_lift_ci)}" if m.rel_lift is not None else "-",
        num(m.p_value),
        num(m.p_adjusted) if m.p_adjusted is not None else "-",
        str(m.decision),
        m.why,
    ]


def srm_line(srm: SrmSummary) -> str:
    state = "MISMATCH" if srm.mismatch else "ok"
    chi2 = "inf" if srm.chi2 is None else num(srm.chi2)
    return (
        f"**Sample ratio: {state}**: a {srm.counts[0]}, b {srm.counts[1]} requests for a "
        f"{srm.weights[0]}/{srm.weights[1]} split; chi-squared {chi2}, p {num(srm.p_value)} "
        f"(mismatch below {srm.threshold:g})"
    )


def verdict_markdown(test: ABTest, looks: list[Look]) -> str:
    lines = [
        f"## A/B test #{test.id}: {test.verdict or test.status}",
        "",
        _title(test),
        "",
        f"**Verdict**: {markdown_cell(test.verdict or 'none')}: "
        f"{markdown_cell(test.verdict_reason)}",
        "",
        f"**Done**: {markdown_cell(test.action or '-')}",
        "",
        f"{len(looks)} looks; started {_when(test.started_at)}, concluded "
        f"{_when(test.concluded_at)}, finished {_when(test.finished_at)}.",
    ]
    if looks:
        last = looks[-1]
        lines += [
            "",
            f"### Last look ({last.number})",
            "",
            *markdown_table(METRIC_HEADER, [metric_row(m) for m in last.result.metrics]),
            "",
            srm_line(last.result.srm),
        ]
    return "\n".join(lines)


def _when(at: datetime | None) -> str:
    return "-" if at is None else f"{at:%Y-%m-%d %H:%M:%S} UTC"


def look_table(looks: list[Look]) -> list[Row]:
    """One row per look: counts, SRM, and each metric's difference, interval, p, decision."""
    rows = []
    for look in looks:
        result = look.result
        row: Row = {
            "look": look.number,
            "at": look.at.isoformat(),
            "requests_a": look.a.requests,
            "requests_b": look.b.requests,
            "srm_p": result.srm.p_value,
            "srm_mismatch": result.srm.mismatch,
        }
        for m in result.metrics:
            row[f"{m.metric}_a"] = m.estimate_a
            row[f"{m.metric}_b"] = m.estimate_b
            row[f"{m.metric}_diff"] = m.diff
            row[f"{m.metric}_low"] = m.diff_ci[0]
            row[f"{m.metric}_high"] = m.diff_ci[1]
            row[f"{m.metric}_p"] = m.p_adjusted if m.p_adjusted is not None else m.p_value
            row[f"{m.metric}_decision"] = str(m.decision)
        row["verdict"] = str(result.verdict) if result.verdict else None
        rows.append(row)
    return rows
