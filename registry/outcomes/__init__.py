"""Outcomes of served requests, feedback joined by request id, and per-minute rollups.

Modules: `domain` (the outcome), `codec` (COPY text lines, the spool's journal format),
`tables` (rows), `store` (batch writes), `rollups` (folding), `histogram` (log buckets),
`feedback` (late scores), `window` (a window's sufficient statistics).
"""

from __future__ import annotations

from registry.outcomes.codec import FORMAT, decode_outcome, encode_outcome
from registry.outcomes.domain import FeedbackStatus, Outcome, StoreResult
from registry.outcomes.feedback import apply_pending_feedback, record_feedback
from registry.outcomes.histogram import LogHistogram, QuantileEstimate
from registry.outcomes.store import store_outcome_lines, store_outcomes
from registry.outcomes.window import WindowStats, window_stats

__all__ = [
    "FORMAT",
    "FeedbackStatus",
    "LogHistogram",
    "Outcome",
    "QuantileEstimate",
    "StoreResult",
    "WindowStats",
    "apply_pending_feedback",
    "decode_outcome",
    "encode_outcome",
    "record_feedback",
    "store_outcome_lines",
    "store_outcomes",
    "window_stats",
]
