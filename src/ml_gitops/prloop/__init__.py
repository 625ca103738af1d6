"""prloop."""
