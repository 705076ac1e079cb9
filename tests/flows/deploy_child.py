"""Runs the deploy flow in a process of its own, for the test that kills it mid-step.

Usage: python -m tests.flows.deploy_child '<DeployParams as JSON>'; the Prefect server and
the registry come from the environment (PREFECT_API_URL, MODELOPS_*).
"""

from __future__ import annotations

import asyncio
import sys

from flows.deploy import deploy
from flows.params import DeployParams


def main() -> None:
    asyncio.run(deploy(DeployParams.model_validate_json(sys.argv[1])))


if __name__ == "__main__":
    main()
