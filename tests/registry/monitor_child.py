"""One monitor process for the concurrency test: connects, waits for a line on stdin (the
start signal), evaluates one window and delivers what is due, prints its report as JSON."""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime

from modelops.settings import parse_master_keys
from registry.alerts.monitor import evaluate_window
from registry.database import make_engine, make_session_factory, require_team
from registry.keys.crypto import MasterKeyring
from tasks.monitor_delivery import deliver_due


def main() -> None:
    url, window_end = sys.argv[1], datetime.fromisoformat(sys.argv[2])
    ring = MasterKeyring(parse_master_keys(os.environ["MODELOPS_MASTER_KEY"]))
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        team = require_team(session, "default")
    print("ready", flush=True)
    sys.stdin.readline()
    with sessions.begin() as session:
        report = evaluate_window(session, team, window_end)
    delivery = deliver_due(sessions, ring)
    print(json.dumps({"evaluated": report.evaluated, **delivery.model_dump()}), flush=True)
    engine.dispose()


if __name__ == "__main__":
    main()
