"""modelops analysis layer."""
