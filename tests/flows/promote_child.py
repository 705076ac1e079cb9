"""Runs the promote flow in a process of its own, for the test that kills it while paused.

Usage: python -m tests.flows.promote_child '<PromoteParams as JSON>'; the Prefect server and
the registry come from the environment (PREFECT_API_URL, MODELOPS_*).
"""

from __future__ import annotations

import asyncio
import sys

from flows.params import PromoteParams
from flows.promote import promote


def main() -> None:
    asyncio.run(promote(PromoteParams.model_validate_json(sys.argv[1])))


if __name__ == "__main__":
    main()
