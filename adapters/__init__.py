"""modelops adapters layer."""
