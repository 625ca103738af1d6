"""Typed `registry` and `release` config groups (conf/registry/, conf/release/).

The version grammar lives here too: settings refuse a malformed ``first_version``, and the
registry (registry/tags.py) parses tags with the same expression.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

_NUM = r"(?:0|[1-9]\d*)"
_PRE = r"(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)"
SEMVER = (
    rf"v(?P<major>{_NUM})\.(?P<minor>{_NUM})\.(?P<patch>{_NUM})"
    rf"(?:-{_PRE}(?:\.{_PRE})*)?(?:\+[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*)?"
)
VERSION_RE = re.compile(rf"^{SEMVER}$")

# The identity promote.yml tags as (GIT_COMMITTER_*): the GitHub Actions bot.
GITHUB_ACTIONS_BOT = "41898282+github-actions[bot]@users.noreply.github.com"

Bump = Literal["major", "minor", "patch"]
BUMPS: tuple[Bump, ...] = ("patch", "minor", "major")


class RegistrySettings(BaseModel):
    """`registry:` in conf/ (conf/registry/default.yaml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    artifact: str = "model"
    auto_stage: str | None = "staging"
    first_version: str = "v0.1.0"
    default_bump: Bump = "minor"
    bump_trailer: str = Field("Release-Bump", pattern=r"^[A-Za-z][A-Za-z0-9-]*$")
    git_remote: str = "origin"
    tag_message: str = "{artifact} {version} from {pr} at {commit}\n\n{metrics}"
    # Model files that must be fetchable (in the DVC remote) before a tag may name them.
    outputs: list[str] = Field(default_factory=lambda: ["models/model.skops", "models/model.onnx"])
    # Deploy's chain of trust (registry/provenance.py): a version deploys only when its commit is on
    # this branch of git_remote and its annotated tag was made by one of these tagger emails.
    trusted_branch: str = Field("main", min_length=1)
    trusted_taggers: list[str] = Field(default_factory=lambda: [GITHUB_ACTIONS_BOT], min_length=1)

    @field_validator("first_version")
    @classmethod
    def _semver(cls, v: str) -> str:
        if not VERSION_RE.match(v):
            raise ValueError(f"{v!r} is not a version like v0.1.0")
        return v


class ReleaseSettings(BaseModel):
    """`release:` in conf/ (conf/release/default.yaml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dist_dir: str = "dist"
    intended_use: str = "Not stated: set release.intended_use in conf/release/."
    known_limitations: list[str] = Field(default_factory=list)
    packages: list[str] = Field(default_factory=lambda: ["scikit-learn", "skops", "numpy", "pandas", "dvc", "gto"])
