"""A/B tests of two versions on an endpoint: definition, plan, looks, verdicts, settlement.

Modules: `metrics` (what can be measured), `definition` (what a test asks), `domain` (what
the registry hands out), `samples` (an arm's sufficient statistics), `checks` and `judge`
(the statistics of a look and its verdict, pure), `plan` (sample size and duration),
`validation`, `tables`, `repository`, `lifecycle` (plan, start, look) and `settle` (finish,
stop). Only the light modules are imported here: reading tests needs no scipy.
"""

from __future__ import annotations

from registry.abtests.definition import (
    ABTestDefinition,
    Guardrail,
    PrimaryMetric,
    Stopping,
    Variant,
)
from registry.abtests.domain import (
    ABTest,
    ABTestStatus,
    ArmData,
    Decision,
    Look,
    LookResult,
    MetricResult,
    Plan,
    VerdictKind,
)
from registry.abtests.metrics import Better, MetricKind, metric_info
from registry.abtests.repository import ABTestRepository

__all__ = [
    "ABTest",
    "ABTestDefinition",
    "ABTestRepository",
    "ABTestStatus",
    "ArmData",
    "Better",
    "Decision",
    "Guardrail",
    "Look",
    "LookResult",
    "MetricKind",
    "MetricResult",
    "Plan",
    "PrimaryMetric",
    "Stopping",
    "Variant",
    "VerdictKind",
    "metric_info",
]
