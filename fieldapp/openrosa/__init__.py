"""openrosa package."""
