"""Serving: HTTP (`serve`) and batch scoring (`score`) of a verified release bundle.

Top layer: imports the base and middle layers, never a stage; nothing imports it
except the CLI's command module.
"""
