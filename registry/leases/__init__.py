"""Provider keys leased to consumers that execute calls themselves (the gateway's resolve).

Modules: `tables` (the lease rows), `repository` (lease a key, record it).
"""

from __future__ import annotations

from registry.leases.repository import KeyLease, LeaseFor, lease_key

__all__ = ["KeyLease", "LeaseFor", "lease_key"]
