"""Generation jobs: the job (idempotent by key, pinned to the key that created it), the
provider webhooks received, the callback notices owed, and the webhook secrets.

Modules: `domain` (what goes in and out), `tables` (rows), `jobs` (the job repository),
`transitions` (how an observation changes a job), `webhook_events` (webhooks as received),
`secrets` (sealed webhook secrets), `callbacks` (notices owed), `artifacts` (stored outputs).
"""
