"""modelops registry layer."""
