"""modelops modelops layer."""
