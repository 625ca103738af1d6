"""CLI subcommands of the lifecycle layers (report, registry, release, serve, monitor, ...).

Each module exposes ``register(subparsers)``; `cli.COMMAND_MODULES` lists them.
"""
