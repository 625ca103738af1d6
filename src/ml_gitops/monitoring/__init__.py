"""Monitoring (top layer): the served model's inputs, outputs and feedback vs its training reference."""
