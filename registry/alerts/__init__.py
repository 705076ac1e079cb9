"""Alerting: rules from the catalog, alerts deduplicated by fingerprint, channels and the
notification log, and the events flows report (DESIGN §3).

Modules: `domain`, `tables`, `rules` (the catalog's rules per team), `observe` and
`conditions` (what each rule sees in a window), `fingerprint`, `lifecycle` (pending →
firing → resolved), `monitor` (one window's evaluation), `sending` (the send rules),
`channel_spec` and `channels`, `delivery` (claims and results), `events` (`emit`),
`repository` (list, acknowledge, resolve).
"""
