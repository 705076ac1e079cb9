"""wrk's report as the gateway benchmark reads it: the JSON line its Lua `done()` prints."""

from __future__ import annotations

import pytest

from benchmarks.gateway_procs import BenchmarkError
from benchmarks.gateway_wrk import parse_wrk_output

# Captured from wrk 4.1.0 (Debian) with benchmarks/gateway_wrk.lua against the fake upstream.
SAMPLE = """\
Running 3s test @ http://127.0.0.1:41053/v1/chat/completions
  1 threads and 1 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   618.27us    1.27ms  15.12ms   87.63%
    Req/Sec    22.83k    10.58k   46.73k    80.00%
  Latency Distribution
     50%   20.00us
     75%  664.00us
     90%    2.20ms
     99%    5.50ms
  68313 requests in 3.03s, 25.54MB read
Requests/sec:  22570.20
Transfer/sec:      8.44MB
WRK_JSON {"requests": 68313, "duration_us": 3026690, "bytes": 26778696, "errors": {"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0}, "latency_us": {"min": 17, "mean": 618.27, "stdev": 1269.01, "max": 15116, "p50": 20, "p90": 2200, "p99": 5497, "p99.9": 10672}}
"""

# The same script against a server that reset every connection: no response at all.
NOTHING_SERVED = """\
Running 3s test @ http://127.0.0.1:34811/v1/chat/completions
  1 threads and 1 connections
  2397 requests in 3.02s, 0.00B read
  Socket errors: connect 0, read 2397, write 0, timeout 0
Requests/sec:      0.00
WRK_JSON {"requests": 0, "duration_us": 3018105, "bytes": 0, "errors": {"connect": 0, "read": 2397, "write": 0, "status": 0, "timeout": 0}, "latency_us": {"min": -9223372036854775808, "mean": 0.00, "stdev": 0.00, "max": 0, "p50": 0, "p90": 0, "p99": 0, "p99.9": 0}}
"""


def test_the_summary_line_gives_counts_and_percentiles_in_milliseconds() -> None:
    result = parse_wrk_output(SAMPLE)
    assert result.requests == 68313
    assert result.failed == 0
    assert result.seconds == pytest.approx(3.02669)
    assert (result.p50_ms, result.p90_ms, result.p99_ms) == (0.020, 2.2, 5.497)
    assert result.mean_ms == pytest.approx(0.61827)
    # wrk's own text report says 22570.20 requests/sec for the same run.
    assert result.rps == pytest.approx(22570.20, rel=1e-4)


def test_responses_that_are_not_2xx_count_as_failed_and_not_as_throughput() -> None:
    with_errors = SAMPLE.replace('"status": 0', '"status": 13313').replace(
        '"timeout": 0}', '"timeout": 2}'
    )
    result = parse_wrk_output(with_errors)
    assert (result.requests, result.status_errors, result.failed) == (68313, 13313, 13315)
    assert result.rps == pytest.approx(55000 / 3.02669)


def test_a_run_that_served_nothing_reads_as_zero_not_as_wrk_s_sentinels() -> None:
    result = parse_wrk_output(NOTHING_SERVED)
    assert (result.requests, result.failed, result.rps) == (0, 2397, 0.0)
    assert result.p50_ms == result.max_ms == 0.0


def test_output_without_the_summary_line_is_an_error_showing_what_wrk_said() -> None:
    with pytest.raises(BenchmarkError, match="unable to connect"):
        parse_wrk_output("unable to connect to 127.0.0.1:9 Connection refused\n")
