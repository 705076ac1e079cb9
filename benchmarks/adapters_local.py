"""Local provider figures: fine-tune time, eval accuracy, artifact size and serving latency,
for v1, v2 (a fine-tune of v1) and v2 trained from scratch on the same data.

    .venv/bin/python benchmarks/adapters_local.py

Trains in a temporary data dir, so it changes nothing; numbers depend on the machine.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from adapters.base import Credential
from adapters.chat import ClassificationRequest
from adapters.jobs import FilePurpose, FineTuneRequest
from adapters.local.adapter import LocalAdapter
from adapters.local.dataset import parse_chat_jsonl

DATA = Path(__file__).resolve().parents[1] / "examples" / "support_tickets"
NO_KEY = Credential()


async def fine_tune(adapter: LocalAdapter, parent: str, data: str, key: str) -> tuple[str, float]:
    started = time.perf_counter()
    uploaded = await adapter.upload_file(NO_KEY, DATA / data, FilePurpose.FINE_TUNE)
    request = FineTuneRequest(model=parent, training_file=uploaded.id, seed=1, idempotency_key=key)
    job = await adapter.wait_for_fine_tune((await adapter.create_fine_tune(NO_KEY, request)).id)
    if job.trained_model_id is None:
        raise RuntimeError(f"fine-tune {job.id} ended {job.status}: {job.error}")
    return job.trained_model_id, time.perf_counter() - started


async def evaluate(adapter: LocalAdapter, model_id: str) -> tuple[float, list[float]]:
    examples = parse_chat_jsonl((DATA / "eval.jsonl").read_bytes())
    hits, latencies = 0, []
    for example in examples:
        response = await adapter.classify(
            NO_KEY, ClassificationRequest(model=model_id, text=example.text)
        )
        hits += response.label == example.label
        latencies.append(response.latency_ms)
    return hits / len(examples), latencies


async def main() -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        adapter = LocalAdapter(Path(data_dir))
        v1, v1_seconds = await fine_tune(adapter, "tfidf-logreg", "base.jsonl", "bench-v1")
        v2, v2_seconds = await fine_tune(adapter, v1, "train.jsonl", "bench-v2")
        scratch, scratch_seconds = await fine_tune(
            adapter, "tfidf-logreg", "train.jsonl", "bench-scratch"
        )
        runs = (("v1", v1, v1_seconds), ("v2", v2, v2_seconds))
        for name, model_id, seconds in (*runs, ("v2 from scratch", scratch, scratch_seconds)):
            accuracy, latencies = await evaluate(adapter, model_id)
            cuts = statistics.quantiles(latencies, n=100)
            size = adapter.artifact_path(model_id).stat().st_size / 1024
            print(
                f"{name} {model_id}: fine-tune {seconds:.2f}s, eval accuracy {accuracy:.4f}, "
                f"artifact {size:.0f} KiB, classify latency p50 {cuts[49]:.2f} ms "
                f"p95 {cuts[94]:.2f} ms"
            )


if __name__ == "__main__":
    asyncio.run(main())
