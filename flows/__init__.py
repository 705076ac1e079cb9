"""modelops flows layer."""
