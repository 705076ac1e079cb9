"""modelops tasks layer."""
