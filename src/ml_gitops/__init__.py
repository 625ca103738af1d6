"""ML GitOps: a reproducible DVC + Hydra pipeline with a git-tag model registry."""

__version__ = "0.1.0"
PACKAGE = __name__
