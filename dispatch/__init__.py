"""One provider call through the key pool: pick a key, call the adapter, fail over, cool down."""
