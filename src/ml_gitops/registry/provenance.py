"""Deploy's chain of trust: a registry tag deploys only when a reviewed merge and promote made it.

`gto check-ref` parses a tag's *name*; anyone who can push a tag can pick any name. So before
deploy acts on a tag, these checks run against git itself (each refusal names its check):

- ``annotated``: the tag is an annotated tag (promote and `make assign` make annotated tags
  through GTO; a lightweight tag carries no tagger or message and GTO ignores it);
- ``on-main``: its commit is reachable from ``<git_remote>/<trusted_branch>``: only merged,
  gated commits deploy;
- ``version-tag``: a stage tag's commit carries a registered version (stage tags are made by
  people too, e.g. a rollback; they are trusted through the version they point at, and prod's
  approval is the GitHub environment's job);
- ``trusted-tagger``: the version tag's tagger email is in ``registry.trusted_taggers`` (by
  default the GitHub Actions bot that promote.yml tags as);
- ``promote-message``: the version tag's message has ``registry.tag_message``'s format (as of
  the tagged commit, which promote used), naming this artifact, this version and this commit;
- ``locked-md5``: the commit's dvc.lock names an md5 for the model (the one deploy fetches
  and release bundles, checked again when the file is fetched).

The trust settings are read from the trusted branch's params.yaml, not the checkout's, so a
tagged commit cannot widen its own trust. Tagger identities are self-declared in git: pair these
checks with a tag ruleset that lets only the bot create ``model@v*`` tags (docs/registry.md).
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from pathlib import Path

from ..adapters import dvc, git
from ..config import paths
from ..config.errors import UserError
from ..config.registry import RegistrySettings
from ..config.settings import load_group
from .tags import Action, RegistryState, TagRef, artifact_path, version_tag

# What promote's placeholders may expand to (registry/tags.py, promote()).
_FIELDS = {"pr": r"(?:PR #\d+|no PR)", "subject": r"[^\n]*", "metrics": r".*"}


@dataclass(frozen=True)
class TagFacts:
    """What git records about one tag."""

    name: str
    annotated: bool
    commit: str
    tagger_email: str
    message: str


@dataclass(frozen=True)
class Proof:
    """A tag that passed every check: the version it deploys and the model md5 dvc.lock names."""

    version: str
    commit: str
    tag: str
    model: str
    md5: str
    tagger: str


class ProvenanceError(UserError):
    """A tag deploy must not act on; the message names the failed check."""


def refuse(tag: str, check: str, why: str) -> ProvenanceError:
    return ProvenanceError(f"{tag}: refused by provenance check {check}: {why}")


def tag_facts(root: Path, name: str) -> TagFacts | None:
    """The tag ``name`` as git holds it, or None when this clone has no such tag."""
    fmt = "%(objecttype)%00%(objectname)%00%(*objectname)%00%(taggeremail)%00%(contents)"
    out = git.output("for-each-ref", f"--format={fmt}", f"refs/tags/{name}", cwd=root)
    if not out.strip():
        return None
    kind, obj, peeled, email, message = out.split("\x00", 4)
    annotated = kind == "tag"
    return TagFacts(name, annotated, peeled if annotated else obj, email.strip().strip("<>"), message.strip())


def message_pattern(template: str, artifact: str, version: str, commit: str) -> re.Pattern[str]:
    """``registry.tag_message`` as a pattern for this version at this commit.

    Placeholders become what promote puts there (the 12-digit commit, ``PR #n`` or ``no PR``,
    one subject line, metric lines); whitespace runs that hold a newline may shrink, as git's
    message clean-up strips trailing blank lines when the metrics are empty.
    """
    known = {"artifact": re.escape(artifact), "version": re.escape(version), "commit": re.escape(commit[:12])}
    parts: list[str] = []
    for literal, name, _spec, _conv in string.Formatter().parse(template.rstrip()):
        for piece in re.split(r"(\s+)", literal):
            parts.append(r"\s*" if piece and piece.isspace() and "\n" in piece else re.escape(piece))
        if name is not None:
            parts.append(known.get(name) or _FIELDS.get(name, r".*?"))
    return re.compile("".join(parts), re.S)


def trust_settings(root: Path, settings: RegistrySettings) -> tuple[str, RegistrySettings]:
    """(the trusted ref, the registry settings as of that ref's params.yaml)."""
    ref = f"refs/remotes/{settings.git_remote}/{settings.trusted_branch}"
    short = f"{settings.git_remote}/{settings.trusted_branch}"
    if git.commit_of(ref, root) is None:
        raise UserError(f"{short} not found in {root}: fetch it first (git fetch {settings.git_remote})")
    text = git.show_text(ref, paths.PARAMS, root)
    if text is None:
        raise UserError(f"{short}: no {paths.PARAMS} to read registry.trusted_taggers from")
    return short, load_group(RegistrySettings, "registry", f"{short}:{paths.PARAMS}", text=text)


def tag_message_at(root: Path, commit: str) -> str | None:
    """The ``registry.tag_message`` promote used: the one in the (merged) tagged commit's params.yaml.

    A later change of the format on main must not make older versions undeployable (rollbacks).
    """
    text = git.show_text(commit, paths.PARAMS, root)
    if text is None:
        return None
    try:
        return load_group(RegistrySettings, "registry", f"{commit[:12]}:{paths.PARAMS}", text=text).tag_message
    except UserError:  # a commit older than today's settings: main's format applies
        return None


def on_branch(root: Path, commit: str, ref: str) -> bool:
    return git.succeeds("merge-base", "--is-ancestor", commit, f"refs/remotes/{ref}", cwd=root)


def check_version_tag(root: Path, settings: RegistrySettings, version: str) -> Proof:
    """Every check for one version tag (see the module docstring); the proof or a ProvenanceError."""
    branch, trust = trust_settings(root, settings)
    tag = version_tag(trust.artifact, version)
    facts = tag_facts(root, tag)
    if facts is None:
        raise refuse(tag, "version-tag", "tag not found in this clone (fetch tags: git fetch --tags)")
    if not facts.annotated:
        raise refuse(tag, "annotated", "a lightweight tag; promote makes annotated tags")
    if not on_branch(root, facts.commit, branch):
        raise refuse(tag, "on-main", f"commit {facts.commit[:12]} is not reachable from {branch}")
    trusted = {t.lower() for t in trust.trusted_taggers}
    if facts.tagger_email.lower() not in trusted:
        who, allowed = facts.tagger_email or "nobody", ", ".join(sorted(trusted))
        raise refuse(tag, "trusted-tagger", f"tagged by {who}, not one of registry.trusted_taggers ({allowed})")
    template = tag_message_at(root, facts.commit) or trust.tag_message
    if not message_pattern(template, trust.artifact, version, facts.commit).fullmatch(facts.message):
        first = facts.message.splitlines()[0] if facts.message else ""
        raise refuse(tag, "promote-message", f"message {first!r} is not registry.tag_message's format for this commit")
    model = artifact_path(root, trust.artifact)
    md5 = (dvc.lock_outputs(dvc.lock_at(facts.commit, root)).get(model) or {}).get("md5")
    if not md5:
        raise refuse(tag, "locked-md5", f"dvc.lock at {facts.commit[:12]} names no md5 for {model}")
    return Proof(version, facts.commit, tag, model, str(md5), facts.tagger_email)


def check_ref(root: Path, settings: RegistrySettings, ref: TagRef, state: RegistryState) -> Proof:
    """Every check for a version tag or a stage tag that deploy was asked to act on."""
    if ref.action is Action.REGISTER and ref.version:
        return check_version_tag(root, settings, ref.version)
    facts = tag_facts(root, ref.tag)
    if facts is None:
        raise refuse(ref.tag, "version-tag", "tag not found in this clone (fetch tags: git fetch --tags)")
    if not facts.annotated:
        raise refuse(ref.tag, "annotated", "a lightweight tag; `make assign` and promote make annotated tags")
    branch, _ = trust_settings(root, settings)
    if not on_branch(root, facts.commit, branch):
        raise refuse(ref.tag, "on-main", f"commit {facts.commit[:12]} is not reachable from {branch}")
    version = state.version_at(facts.commit)
    if version is None:
        raise refuse(ref.tag, "version-tag", f"commit {facts.commit[:12]} carries no registered version tag")
    return check_version_tag(root, settings, version)
