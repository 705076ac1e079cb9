"""Is a share of events above a limit? The exact one-sided binomial test behind SLO checks:
an error rate above its objective, or more than 5% of requests slower than a p95 target
(which is the p95 itself above the target)."""

from __future__ import annotations

from dataclasses import dataclass

from scipy import stats

from analysis._core import check_alpha


@dataclass(frozen=True)
class Exceedance:
    """`k` of `n` events, against a limit share `limit`; `p_value` of H0: share <= limit."""

    k: int
    n: int
    limit: float
    p_value: float
    alpha: float

    @property
    def share(self) -> float:
        return self.k / self.n if self.n else 0.0

    @property
    def exceeded(self) -> bool:
        """Shown above the limit at `alpha` (never with no events)."""
        return self.n > 0 and self.p_value < self.alpha


def binomial_exceedance(k: int, n: int, limit: float, *, alpha: float = 0.05) -> Exceedance:
    """Exact binomial test (scipy.stats.binomtest, alternative "greater") of k / n > limit.

    Misuse (negative counts, k > n, limit outside [0, 1)) raises ValueError; n = 0 gives
    p-value 1 (nothing shown)."""
    check_alpha(alpha)
    if k < 0 or n < 0 or k > n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if not 0.0 <= limit < 1.0:
        raise ValueError(f"limit must be in [0, 1), got {limit}")
    if n == 0:
        return Exceedance(k, n, limit, 1.0, alpha)
    p = float(stats.binomtest(k, n, limit, alternative="greater").pvalue)
    return Exceedance(k, n, limit, p, alpha)
