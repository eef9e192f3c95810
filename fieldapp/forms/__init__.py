"""forms package."""
