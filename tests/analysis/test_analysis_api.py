"""The public API of `analysis` is pinned: later issues and outside checks import it."""

from __future__ import annotations

import analysis

PUBLIC_API = [
    "Adjustment",
    "Alternative",
    "AnalysisWarning",
    "ArmStats",
    "BayesianResult",
    "Bootstrap",
    "CanaryPolicy",
    "CheckName",
    "CheckReason",
    "CheckResult",
    "Comparison",
    "GaussianPrior",
    "MannWhitneyResult",
    "McNemarResult",
    "MeanStats",
    "Method",
    "ProportionStats",
    "QuantileInterval",
    "SampleSize",
    "SequentialDecision",
    "SequentialResult",
    "SrmResult",
    "Status",
    "Verdict",
    "VerdictStatus",
    "adjust_pvalues",
    "bayesian_effect",
    "compare_means",
    "compare_proportions",
    "compare_quantiles",
    "judge_canary",
    "mann_whitney",
    "mcnemar",
    "mde",
    "paired_t",
    "paired_t_from_stats",
    "quantile_ci",
    "sample_size_means",
    "sample_size_proportions",
    "sequential_comparison",
    "sequential_means",
    "sequential_proportions",
    "sequential_sample_size",
    "srm_check",
]


def test_all_is_pinned() -> None:
    assert analysis.__all__ == PUBLIC_API


def test_every_exported_name_exists_and_is_documented() -> None:
    for name in analysis.__all__:
        obj = getattr(analysis, name)
        assert obj.__doc__, f"{name} has no docstring"


def test_analysis_imports_only_stdlib_numpy_and_scipy() -> None:
    import ast
    import pathlib
    import sys

    allowed = {"numpy", "scipy", "analysis", "__future__"}
    for path in pathlib.Path(analysis.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                root = name.split(".")[0]
                assert root in allowed or root in sys.stdlib_module_names, (path.name, name)
