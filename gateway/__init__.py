"""modelops gateway layer."""
