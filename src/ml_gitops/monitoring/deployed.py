"""Which model the monitor judges: the version a registry stage points to, and that version's own reference.

Traffic from several versions shares one prediction log (serving logs each row's
``version``), and main's training split is not the data an older deployed model
learnt from. So the monitor resolves the deployed version from the registry's git
tags, keeps only that version's log rows, and reads the reference split and
predictions as committed at the version's tag (``dvc.api``: local cache, then the
remote), each checked against the md5 that the tag's ``dvc.lock`` records.

Before anything is registered there is no deployed version: the working tree's model
and reference are judged against all logged traffic, as in local development.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..adapters import dvc, git
from ..config import paths
from ..config.errors import UserError
from ..registry.tags import Registry, RegistryState, version_tag

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Deployed:
    """The judged model: a registered version (with its tag and commit), or the working tree (all None)."""

    version: str | None = None
    stage: str | None = None
    tag: str | None = None
    commit: str | None = None
    why: str = ""

    @property
    def workspace(self) -> bool:
        return self.version is None

    def describe(self) -> dict[str, Any]:
        return {"version": self.version, "stage": self.stage, "tag": self.tag, "commit": self.commit, "why": self.why}


def choose(state: RegistryState, tag_of: Any, stage: str | None, version: str | None) -> Deployed:
    """Pure: the version to judge from the registry ``state`` (``tag_of(version)`` names its tag).

    An explicit ``version`` wins; else the ``stage``'s version; no stage, or nothing registered
    at all, means the working tree. A stage with no version while versions exist is an error:
    something is meant to be deployed there and the monitor must not judge the wrong model.
    """
    if version:
        commit = state.require(version)
        return Deployed(version, None, tag_of(version), commit, f"version {version} (given)")
    if not stage:
        return Deployed(why="monitor.stage is empty: the working tree's model, all logged traffic")
    if not state.versions:
        return Deployed(why="no version registered yet: the working tree's model, all logged traffic")
    current = state.stages.get(stage)
    if current is None:
        known = ", ".join(f"{s}={v}" for s, v in sorted(state.stages.items()) if v) or "none"
        raise UserError(
            f"registry stage {stage!r} has no version assigned, so nothing deployed there to monitor "
            f"(assigned: {known}); set monitor.stage in conf/monitor/ or pass --stage/--version"
        )
    return Deployed(current, stage, tag_of(current), state.versions[current], f"stage {stage} -> {current}")


def resolve(root: Path, stage: str | None, version: str | None) -> Deployed:
    """The deployed version of the repository at ``root`` (its registry tags)."""
    reg = Registry.open(root)
    if stage:
        reg.check_stage(stage)
    dep = choose(reg.state(), lambda v: version_tag(reg.artifact, v), stage, version)
    log.info("monitor: judging %s", dep.why)
    return dep


def signature_at(dep: Deployed, root: Path) -> dict[str, Any] | None:
    """The model signature committed at the version's tag (None: the working tree's, or none there)."""
    if dep.tag is None:
        return None
    text = git.show_text(dep.tag, paths.SIGNATURE, root)
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise UserError(f"{dep.tag}:{paths.SIGNATURE.as_posix()}: not valid JSON") from None


def recorded_md5(lock: dict[str, Any] | None, path: str) -> str | None:
    """The md5 dvc.lock records for ``path`` as an output (the reference must be a pipeline output)."""
    return dvc.lock_outputs(lock).get(path, {}).get("md5")


@contextmanager
def reference_files(dep: Deployed, root: Path, wanted: dict[str, bool]) -> Iterator[dict[str, tuple[Path, dict]]]:
    """The version's reference files as of its tag, in a temp folder: {path: (local file, pin info)}.

    ``wanted`` maps each path to whether it is required; an optional one the tag's dvc.lock
    does not record is left out. Each file's md5 must equal the one its tag's dvc.lock records.
    """
    if dep.tag is None:
        raise UserError("the working tree's reference is read from the working tree, not from a tag")
    lock = dvc.lock_at(dep.tag, root)
    if lock is None:
        raise UserError(f"{dep.tag}: the tagged commit has no readable {paths.DVC_LOCK}: no training reference")
    with tempfile.TemporaryDirectory(prefix="monitor-ref-") as tmp:
        out: dict[str, tuple[Path, dict]] = {}
        for i, (path, required) in enumerate(wanted.items()):
            md5 = recorded_md5(lock, path)
            if md5 is None:
                if required:
                    raise UserError(
                        f"{dep.tag}: {paths.DVC_LOCK} records no output {path}, so version {dep.version} "
                        "has no training reference (monitor.reference in conf/monitor/)"
                    )
                continue
            local = Path(tmp) / f"{i}-{Path(path).name}"
            dvc.copy_output(dep.tag, path, local, root)
            got = dvc.file_md5(local)
            if got != md5:
                raise UserError(f"{path}@{dep.tag}: md5 {got} differs from the tag's {paths.DVC_LOCK} ({md5})")
            out[path] = (local, {"path": path, "md5": got, "lock_md5": md5, "pinned": True, "rev": dep.tag})
        yield out
