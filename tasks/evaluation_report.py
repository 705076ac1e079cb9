"""The evaluation as people read it in the Prefect UI: a markdown report and a per-label table."""

from __future__ import annotations

from collections import Counter

from registry.evaluations import EvaluationSummary
from registry.gates import CONFIDENCE, ChampionTest
from tasks.evaluation_plan import EvaluationPlan, RunResults, Settlement, Stored
from tasks.evaluation_scoring import Scorecard

MAX_TABLE_ROWS = 50  # chat datasets have one "label" per example; keep the table readable


def report_key(model: str, version: int) -> str:
    """Artifact key; model names are already lowercase letters, digits and '-'."""
    return f"evaluation-{model}-v{version}"


def report_markdown(
    plan: EvaluationPlan, scorecard: Scorecard, stored: Stored, settlement: Settlement
) -> str:
    """The whole evaluation on one page: verdict, numbers, comparison, gates, provenance."""
    candidate, summary = plan.candidate, scorecard.summary
    verdict = "passed" if summary.passed else "failed"
    lines = [
        f"# Evaluation of {candidate.model} v{candidate.version} on `{summary.dataset_name}`",
        "",
        f"**Staging gates {verdict}.** {settlement.note}.",
        "",
        *_metrics_table(plan, scorecard),
        "",
        f"**Versus the champion:** {summary.comparison.get('summary', 'no champion')}",
        *_champion_source(plan, stored),
        "",
        "## Gates of the staging policy",
        "",
        *_gates_table(scorecard),
        "",
        "`min_accuracy` is judged on the point estimate; the Wilson "
        f"{CONFIDENCE:.0%} interval is shown beside it. `not_worse_than_champion` fails only "
        f"when a one-sided {ChampionTest.of(plan.gates).label} test (the policy's "
        "`champion_test`) finds the candidate worse on the same examples "
        "(b = only the champion right, c = only the candidate right).",
        "",
        f"Dataset `{summary.dataset_uri}`, sha256 `{summary.dataset_sha256}`, "
        f"{summary.examples} examples. Evaluation #{stored.evaluation_id}.",
    ]
    return "\n".join(lines) + "\n"


def _champion_source(plan: EvaluationPlan, stored: Stored) -> list[str]:
    if plan.champion is None or stored.champion_evaluation_id is None:
        return []
    how = "reused from" if stored.champion_reused else "measured now on the same examples, as"
    return [
        "",
        f"Champion v{plan.champion.version} results: {how} evaluation "
        f"#{stored.champion_evaluation_id}, paired with the candidate's by example sha256.",
    ]


def _metrics_table(plan: EvaluationPlan, scorecard: Scorecard) -> list[str]:
    runs = [(f"v{plan.candidate.version} (candidate)", scorecard.summary)]
    if scorecard.champion_summary is not None and plan.champion is not None:
        runs.append((f"v{plan.champion.version} (champion)", scorecard.champion_summary))
    rows = [
        ("accuracy", _accuracy),
        ("correct / examples", lambda s: f"{s.correct} / {s.examples}"),
        ("errors", lambda s: str(s.errors)),
        ("latency p50 / p95", lambda s: f"{s.latency_p50_ms:.2f} / {s.latency_p95_ms:.2f} ms"),
        ("tokens in / out", lambda s: f"{s.input_tokens:,} / {s.output_tokens:,}"),
        ("cost", lambda s: f"${s.cost:,.4f}"),
    ]
    header = "| | " + " | ".join(name for name, _ in runs) + " |"
    lines = [header, "|---" * (len(runs) + 1) + "|"]
    lines += ["| " + label + " | " + " | ".join(f(s) for _, s in runs) + " |" for label, f in rows]
    return lines


def _accuracy(summary: EvaluationSummary) -> str:
    return (
        f"{summary.accuracy:.3f} ({CONFIDENCE:.0%} CI "
        f"{summary.accuracy_low:.3f}-{summary.accuracy_high:.3f})"
    )


def _gates_table(scorecard: Scorecard) -> list[str]:
    if not scorecard.verdicts:
        return ["The staging policy sets no gates: nothing to judge."]
    lines = ["| gate | threshold | verdict | why |", "|---|---|---|---|"]
    for verdict in scorecard.verdicts:
        mark = "pass" if verdict.passed else "**FAIL**"
        limit = "required" if isinstance(verdict.threshold, bool) else f"{verdict.threshold:g}"
        lines.append(f"| `{verdict.gate}` | {limit} | {mark} | {verdict.reason} |")
    return lines


def label_table(candidate: RunResults, champion: RunResults | None) -> list[dict[str, object]]:
    """Accuracy per expected answer for both versions, most frequent answers first."""
    counts = Counter(result.expected for result in candidate.results)
    right = Counter(result.expected for result in candidate.results if result.correct)
    # Keyed by the candidate's expected text: a stored champion's may be clipped.
    expected_of = {result.example_sha256: result.expected for result in candidate.results}
    champion_right: Counter[str] = Counter()
    if champion is not None:
        champion_right.update(
            expected_of[r.example_sha256]
            for r in champion.results
            if r.correct and r.example_sha256 in expected_of
        )
    rows: list[dict[str, object]] = []
    for expected, n in counts.most_common(MAX_TABLE_ROWS):
        row: dict[str, object] = {
            "expected": expected,
            "examples": n,
            f"v{candidate.version} accuracy": round(right[expected] / n, 3),
        }
        if champion is not None:
            row[f"v{champion.version} accuracy"] = round(champion_right[expected] / n, 3)
        rows.append(row)
    return rows
