"""Market data feeds."""
