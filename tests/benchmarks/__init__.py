"""Logic of the benchmark harnesses that is worth a test (parsing, framing, ratios)."""
