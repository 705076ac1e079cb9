"""Log buckets: fixed boundaries 10% apart from 0.1 ms past 10 minutes, and quantiles that
land in the same bucket as the sample's true quantile (numpy's inverted CDF)."""

from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.outcomes.histogram import (
    BOUNDARIES_US,
    BUCKETS,
    LogHistogram,
    bucket_of,
    bucket_range_ms,
)

REPRODUCIBLE = {"deadline": None, "database": None, "derandomize": True}


def test_boundaries_run_from_a_tenth_of_a_millisecond_past_ten_minutes_ten_percent_apart() -> None:
    assert BOUNDARIES_US[0] == 100.0
    assert BOUNDARIES_US[-2] < 600_000_000 <= BOUNDARIES_US[-1]
    ratios = [b / a for a, b in itertools.pairwise(BOUNDARIES_US)]
    assert all(math.isclose(r, 1.1, rel_tol=1e-12) for r in ratios)
    assert BUCKETS == len(BOUNDARIES_US) + 1 == 166


@pytest.mark.parametrize("bucket", [1, 2, 50, 164])
def test_a_boundary_opens_its_bucket(bucket: int) -> None:
    low, high = bucket_range_ms(bucket)
    assert bucket_of(low * 1000) == bucket
    assert bucket_of(math.nextafter(low * 1000, 0)) == bucket - 1
    assert bucket_of(math.nextafter(high * 1000, 0)) == bucket


def test_the_end_buckets_are_open_and_say_their_error_is_unbounded() -> None:
    assert bucket_of(0) == 0 and bucket_range_ms(0) == (0.0, 0.1)
    assert bucket_of(86_400_000_000) == BUCKETS - 1
    assert bucket_range_ms(BUCKETS - 1)[1] == math.inf
    tiny = LogHistogram.from_durations_ms([0.01, 0.05]).quantile(0.5)
    huge = LogHistogram.from_durations_ms([3_600_000.0]).quantile(0.5)
    assert tiny is not None and tiny.relative_error == math.inf
    assert huge is not None and huge.relative_error == math.inf and huge.estimate_ms > 614_000


@settings(max_examples=300, **REPRODUCIBLE)
@given(
    durations=st.lists(
        st.floats(min_value=0.1, max_value=600_000, allow_nan=False), min_size=1, max_size=300
    ),
    q=st.floats(min_value=0.001, max_value=0.999),
)
def test_a_quantile_is_in_the_bucket_of_the_true_one(durations: list[float], q: float) -> None:
    rounded = [round(d * 1000) / 1000 for d in durations]  # what an outcome keeps
    estimate = LogHistogram.from_durations_ms(rounded).quantile(q)
    true = float(np.quantile(rounded, q, method="inverted_cdf"))
    assert estimate is not None
    assert estimate.low_ms <= true < estimate.high_ms
    assert estimate.low_ms <= estimate.estimate_ms < estimate.high_ms
    if true >= 0.1:
        assert abs(estimate.estimate_ms - true) / true < estimate.relative_error


def test_the_p95_of_a_lognormal_sample_is_within_ten_percent() -> None:
    rng = random.Random(3)
    durations = [round(rng.lognormvariate(6.0, 0.8) * 1000) / 1000 for _ in range(50_000)]
    estimate = LogHistogram.from_durations_ms(durations).quantile(0.95)
    true = float(np.quantile(durations, 0.95, method="inverted_cdf"))
    assert estimate is not None and abs(estimate.estimate_ms / true - 1) < 0.1


def test_histograms_add_bucket_by_bucket() -> None:
    a, b = [1.0, 2.0, 250.0], [2.05, 9000.0]
    assert LogHistogram.from_durations_ms(a) + LogHistogram.from_durations_ms(b) == (
        LogHistogram.from_durations_ms(a + b)
    )
    assert (LogHistogram.from_durations_ms(a + b)).n == 5


def test_misuse_raises() -> None:
    with pytest.raises(ValueError, match="q must be"):
        LogHistogram.from_durations_ms([1.0]).quantile(1.0)
    with pytest.raises(ValueError, match="bucket must be"):
        LogHistogram({BUCKETS: 1})
    with pytest.raises(ValueError, match="negative"):
        LogHistogram({3: -1})
    assert LogHistogram().quantile(0.5) is None
