"""The command line: wiring only. `main.py` builds the parser; each module adds one command group.

Each module exposes ``register(subparsers)``; `main.COMMAND_MODULES` lists them. Every command's
start imports every module here, so handlers import the heavy layers (serving, DVC, GTO, pandas)
when they run, not at module level: see docs/performance.md, "Imports on CLI paths".
"""
