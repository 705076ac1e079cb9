"""Alerting: rules from the catalog, alerts deduplicated by fingerprint, channels and the
notification log, and the events flows report (DESIGN §3).

Modules: `domain`, `tables`, `rules` (the catalog's rules per team), `observe` (what each
rule sees in a window), `lifecycle` (pending → firing → resolved), `monitor` (one window's
evaluation), `sending` (who gets what: the send rules), `channels`, `delivery` (claims and
results), `events` (`emit`), `repository` (list, acknowledge, resolve).
"""
