"""The git-tag model registry: GTO's tag grammar, a typed view of the tags, and promotion.

GTO (iterative/gto) owns the tag grammar; this module reads it with one regular
expression into one typed result (`TagRef`) and builds the registry state from
`git for-each-ref` in one process, because importing GTO is slow (docs/performance.md)
and the deploy path asks "what is in prod?" often. Writing tags goes through GTO's
Python API, so every tag we create is one GTO made. A test checks that our
parser and GTO's agree on a corpus of tags, and that our view agrees with
`gto show` on a real origin.

    model@v1.2.3      register          model@v1.2.3!    deregister
    model#prod#7      assign prod       model#prod!#8    unassign prod
    (the #N counter is one per artifact across all stages)
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from ..adapters import dvc, git
from ..adapters.io import atomic_path
from ..config import paths
from ..config.errors import UserError
from ..config.metric_names import METRICS
from ..config.registry import BUMPS, SEMVER, VERSION_RE, Bump, RegistrySettings
from ..config.settings import load_group

GTO_CONFIG = Path(".gto")
ARTIFACTS_FILE = Path("artifacts.yaml")
DVC_LOCK = paths.DVC_LOCK
log = logging.getLogger(__name__)

# ----------------------------------------------------------------- the grammar
_NAME = r"[a-zA-Z0-9](?:[a-zA-Z0-9\-/_]*[a-zA-Z0-9])?"
TAG_RE = re.compile(
    rf"^(?P<artifact>(?:[a-zA-Z0-9\-_./]+=)?{_NAME})"
    rf"(?:@(?P<version>{SEMVER})(?P<dereg>!?)|#(?P<stage>{_NAME})(?P<unassign>!?)#(?P<counter>[0-9]+))$"
)
STAGE_RE = re.compile(rf"^{_NAME}$")


class Action(StrEnum):
    REGISTER = "register"
    DEREGISTER = "deregister"
    ASSIGN = "assign"
    UNASSIGN = "unassign"


@dataclass(frozen=True)
class TagRef:
    """One parsed registry tag."""

    tag: str
    artifact: str
    action: Action
    version: str | None = None
    stage: str | None = None
    counter: int | None = None


def parse_tag(ref: str) -> TagRef | None:
    """Parse a tag name (or refs/tags/<name>); None when it is not a registry tag.

    Only the actions promote and assign create are accepted: GTO's deprecation
    tags (`name@deprecated`) and counter-less stage tags are "not ours" here.
    """
    name = ref.removeprefix("refs/tags/")
    m = TAG_RE.match(name)
    if not m:
        return None
    artifact = m["artifact"].replace("=", ":")
    if m["version"]:
        action = Action.DEREGISTER if m["dereg"] else Action.REGISTER
        return TagRef(name, artifact, action, version=m["version"])
    action = Action.UNASSIGN if m["unassign"] else Action.ASSIGN
    return TagRef(name, artifact, action, stage=m["stage"], counter=int(m["counter"]))


def version_key(version: str) -> tuple[int, int, int]:
    m = VERSION_RE.match(version)
    if not m:
        raise UserError(f"version {version!r} is malformed (expected vMAJOR.MINOR.PATCH, e.g. v1.2.0)")
    return int(m["major"]), int(m["minor"]), int(m["patch"])


def bump(version: str, part: Bump) -> str:
    major, minor, patch = version_key(version)
    if part == "major":
        return f"v{major + 1}.0.0"
    if part == "minor":
        return f"v{major}.{minor + 1}.0"
    return f"v{major}.{minor}.{patch + 1}"


def version_tag(artifact: str, version: str) -> str:
    return f"{artifact.replace(':', '=')}@{version}"


# ----------------------------------------------------------------- state
@dataclass(frozen=True)
class GitTag:
    name: str
    commit: str
    created: int
    message: str
    annotated: bool = True


@dataclass
class RegistryState:
    """Registered versions of one artifact and the version each stage points to."""

    artifact: str
    versions: dict[str, str] = field(default_factory=dict)  # version -> commit
    messages: dict[str, str] = field(default_factory=dict)
    created: dict[str, int] = field(default_factory=dict)
    stages: dict[str, str | None] = field(default_factory=dict)  # stage -> version (what `gto show` shows)
    active: set[tuple[str, str]] = field(default_factory=set)  # (version, stage) still assigned, shown or not
    last_counter: int = 0

    def sorted_versions(self) -> list[str]:
        return sorted(self.versions, key=version_key)

    @property
    def latest(self) -> str | None:
        return self.sorted_versions()[-1] if self.versions else None

    def version_at(self, commit: str) -> str | None:
        """The greatest registered version pointing at ``commit``."""
        found = [v for v, c in self.versions.items() if c == commit]
        return max(found, key=version_key) if found else None

    def previous(self, version: str) -> str | None:
        lower = [v for v in self.versions if version_key(v) < version_key(version)]
        return max(lower, key=version_key) if lower else None

    def stages_of(self, version: str) -> list[str]:
        return sorted(s for s, v in self.stages.items() if v == version)

    def require(self, version: str) -> str:
        version_key(version)
        if version not in self.versions:
            known = ", ".join(self.sorted_versions()) or "none"
            raise UserError(f"{version_tag(self.artifact, version)} is not registered (registered: {known})")
        return self.versions[version]


def build_state(artifact: str, tags: Sequence[GitTag], stages: Sequence[str] = ()) -> RegistryState:
    """Fold the tags of ``artifact`` into a state with GTO's semantics (what `gto show` prints).

    GTO keeps one assigned/unassigned flag per (version, stage): the flag is the version's
    latest event for that stage, and a stage shows the active version assigned most recently.
    So after `assign prod v2`, `assign prod v1`, `unassign prod v1`, prod is v2 again, and a
    deregistered version drops out of every stage. Events are ordered by tag time, then by
    GTO's per-artifact counter, which is exact even when two tags share a timestamp second.
    """
    state = RegistryState(artifact, stages=dict.fromkeys(stages))
    events: list[tuple[TagRef, GitTag]] = []
    attributed: dict[str, str] = {}  # commit -> version, deregistered ones too (GTO keeps them)
    for t in sorted(tags, key=lambda t: (t.created, t.name)):
        ref = parse_tag(t.name)
        if ref is None or ref.artifact != artifact or not t.annotated:
            continue  # GTO ignores lightweight tags
        if ref.action is Action.REGISTER and ref.version:
            state.versions[ref.version] = t.commit
            state.messages[ref.version] = t.message
            state.created[ref.version] = t.created
        elif ref.action is Action.DEREGISTER and ref.version:
            for d in (state.versions, state.messages, state.created):
                d.pop(ref.version, None)
        elif ref.counter is not None:
            events.append((ref, t))
            state.last_counter = max(state.last_counter, ref.counter)
        if ref.version and (t.commit not in attributed or version_key(ref.version) > version_key(attributed[t.commit])):
            attributed[t.commit] = ref.version
    # (version, stage) -> (active, order of its latest assignment)
    flags: dict[tuple[str, str], tuple[bool, tuple[int, int]]] = {}
    for ref, t in sorted(events, key=lambda e: (e[1].created, e[0].counter or 0)):
        version = attributed.get(t.commit)
        if version is None:
            continue  # a stage tag on a commit no version names: not shown by GTO either
        key = (version, ref.stage or "")
        order = (t.created, ref.counter or 0)
        if ref.action is Action.ASSIGN:
            flags[key] = (True, order)
        elif key in flags:
            flags[key] = (False, flags[key][1])
    current: dict[str, tuple[int, int]] = {}
    for (version, stage), (active, order) in flags.items():
        if not active or version not in state.versions:
            continue
        state.active.add((version, stage))
        if order > current.get(stage, (-1, -1)):
            state.stages[stage], current[stage] = version, order
    return state


# ----------------------------------------------------------------- git and dvc
def gto_api() -> Any:
    """GTO's Python API, with its usage reports off."""
    os.environ.update({k: v for k, v in dvc.QUIET_ENV.items() if k not in os.environ})
    # Importing GTO costs more than the rest of a registry read (docs/performance.md, "Imports on
    # CLI paths"); only the commands that write tags or cross-check one import it.
    from gto import api

    return api


def list_tags(root: Path) -> list[GitTag]:
    fmt = "%(refname:strip=2)%00%(objecttype)%00%(*objectname)%00%(objectname)%00%(creatordate:unix)%00%(contents)%01"
    out = git.output("for-each-ref", f"--format={fmt}", "refs/tags", cwd=root)
    tags = []
    for rec in out.split("\x01"):
        rec = rec.lstrip("\n")
        if not rec:
            continue
        name, kind, peeled, obj, created, message = rec.split("\x00", 5)
        annotated = kind == "tag"
        tags.append(GitTag(name, peeled if annotated else obj, int(created or 0), message.strip(), annotated))
    return tags


def resolve_commit(root: Path, rev: str) -> str:
    """The commit ``rev`` names; a UserError when it names none."""
    commit = git.commit_of(rev, root)
    if commit is None:
        raise UserError(f"{rev}: not a commit in {root}")
    return commit


def stale_stages(root: Path) -> list[str]:
    """`dvc status` as one phrase per stale stage, e.g. "train (params.yaml: model modified)"."""
    proc = dvc.run("status", "--json", cwd=root, check=False)
    if proc.returncode != 0:
        raise UserError(f"dvc status failed: {dvc.error_line(proc)}")
    status: dict[str, Any] = json.loads(proc.stdout or "{}")
    phrases = []
    for stage, changes in status.items():
        parts: list[str] = []
        for change in changes:
            if isinstance(change, str):
                parts.append(change)
                continue
            for kind, items in change.items():
                for path, what in items.items():
                    if isinstance(what, dict):
                        what = ", ".join(f"{k} {v}" for k, v in what.items())
                    parts.append(f"{kind.removeprefix('changed ')} {path} {what}")
        phrases.append(f"{stage} ({'; '.join(parts)})")
    return phrases


def missing_in_remote(root: Path, paths: Sequence[str]) -> dict[str, str]:
    """Outputs in ``paths`` that the default DVC remote does not hold ({path: status})."""
    if not paths:
        return {}
    proc = dvc.run("status", "--cloud", "--json", *paths, cwd=root, check=False)
    if proc.returncode != 0:
        raise UserError(f"dvc status --cloud failed (is the DVC remote reachable?): {dvc.error_line(proc)}")
    status = json.loads(proc.stdout or "{}")
    return {p: s for p, s in status.items() if s != "deleted"}


def allowed_stages(root: Path) -> list[str]:
    path = root / GTO_CONFIG
    if not path.exists():
        return []
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict) or not isinstance(raw.get("stages", []), list):
        raise UserError(f"{GTO_CONFIG}: expected `stages: [..]` (GTO accepts only `types:` and `stages:`)")
    return [str(s) for s in raw.get("stages") or []]


def artifact_path(root: Path, artifact: str) -> str:
    path = root / ARTIFACTS_FILE
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None
    if not isinstance(raw, dict) or artifact not in raw or "path" not in (raw[artifact] or {}):
        raise UserError(f"{ARTIFACTS_FILE}: artifact {artifact!r} with a `path:` is not declared")
    return str(raw[artifact]["path"])


@dataclass
class Registry:
    """The registry of one artifact in one git repository."""

    root: Path
    settings: RegistrySettings
    stages: list[str]

    @classmethod
    def open(cls, root: Path = Path()) -> Registry:
        root = Path(root)
        settings = load_group(RegistrySettings, "registry", root / paths.PARAMS)
        stages = allowed_stages(root)
        if settings.auto_stage and stages and settings.auto_stage not in stages:
            raise UserError(
                f"params.yaml: registry.auto_stage: {settings.auto_stage!r} is not in {GTO_CONFIG}'s stages "
                f"({', '.join(stages)})"
            )
        return cls(root, settings, stages)

    @property
    def artifact(self) -> str:
        return self.settings.artifact

    def state(self) -> RegistryState:
        return build_state(self.artifact, list_tags(self.root), self.stages)

    def check_stage(self, stage: str) -> None:
        if not STAGE_RE.match(stage):
            raise UserError(f"stage {stage!r} is malformed (letters, digits, '-', '_', '/')")
        if self.stages and stage not in self.stages:
            raise UserError(f"stage {stage!r} is not in {GTO_CONFIG}'s allow-list ({', '.join(self.stages)})")

    def push(self, *tags: str) -> None:
        """Push ``tags`` atomically (all or none); on failure delete them locally so no half-done state remains."""
        err = self.try_push(*tags)
        if err is not None:
            self.delete_local(*tags)
            remote = self.settings.git_remote
            raise UserError(f"could not push {', '.join(tags)} to {remote} (deleted locally): {err}")

    def try_push(self, *tags: str) -> str | None:
        """Push ``tags`` in one atomic push; git's error line when the remote refused (e.g. a taken name)."""
        try:
            git.run(
                "push",
                "--atomic",
                "--quiet",
                self.settings.git_remote,
                *(f"refs/tags/{t}" for t in tags),
                cwd=self.root,
            )
        except UserError as err:
            return str(err)
        return None

    def delete_local(self, *tags: str) -> None:
        for tag in tags:
            git.run("tag", "-d", tag, cwd=self.root, check=False)

    def fetch_tags(self) -> None:
        """Bring the remote's tags here (another promote may have taken a version number)."""
        git.run("fetch", "--quiet", "--force", "--tags", self.settings.git_remote, cwd=self.root)


# ----------------------------------------------------------------- promote
@dataclass(frozen=True)
class PromoteResult:
    version: str
    commit: str
    tags: list[str]
    new: bool
    unchanged_since: str | None = None  # the version whose model HEAD still has (nothing registered)


# A failed push after which the remote holds new tags (a concurrent promote took the number) is
# retried with the next number this many times; any other push failure is reported at once.
PUSH_ATTEMPTS = 5


def _pr_number(subject: str, explicit: str | None) -> str:
    if explicit:
        return f"PR #{explicit.lstrip('#')}"
    m = re.search(r"(?:pull request #|\(#)(\d+)", subject)
    return f"PR #{m[1]}" if m else "no PR"


def requested_bump(root: Path, trailer: str, since: str | None, default: Bump) -> Bump:
    """The largest `<trailer>: major|minor|patch` on the commits since the last version."""
    rng = f"{since}..HEAD" if since else "HEAD"
    out = git.output("log", f"--format=%H %(trailers:key={trailer},valueonly,separator=%x2C)", rng, cwd=root)
    wanted: list[Bump] = []
    for line in out.splitlines():
        sha, _, values = line.partition(" ")
        for value in filter(None, (v.strip().lower() for v in values.split(","))):
            if value not in BUMPS:
                raise UserError(f"commit {sha[:12]}: trailer {trailer}: {value!r} is not one of {', '.join(BUMPS)}")
            wanted.append(value)  # type: ignore[arg-type]
    return max(wanted, key=BUMPS.index) if wanted else default


def metrics_lines(metrics: dict[str, Any]) -> str:
    out = []
    for name in METRICS:
        if name in metrics:
            lo, hi = metrics.get(f"{name}_ci_low"), metrics.get(f"{name}_ci_high")
            ci = f" [{lo:.4f}, {hi:.4f}]" if lo is not None and hi is not None else ""
            out.append(f"{name}: {metrics[name]:.4f}{ci}")
    return "\n".join(out)


def promote(
    reg: Registry,
    *,
    push: bool = False,
    bump_override: Bump | None = None,
    version: str | None = None,
    pr: str | None = None,
) -> PromoteResult:
    """Register HEAD as the next version and assign the automatic stage, or refuse naming why.

    Nothing is registered when HEAD's model (the train stage's outputs in dvc.lock) is the latest
    version's. With ``push`` the remote's tags are fetched first and the new tags go out in one
    atomic push; when it fails because another promote took the number meanwhile, the tags are
    fetched again and the next number is tried (at most PUSH_ATTEMPTS times).
    """
    root, cfg = reg.root, reg.settings
    if git.output("status", "--porcelain", "--untracked-files=no", cwd=root).strip():
        raise UserError("the working tree has uncommitted changes to tracked files: commit them first")
    if push:
        reg.fetch_tags()  # decide on the remote's registry, not this clone's copy from checkout time
    head = resolve_commit(root, "HEAD")
    state = reg.state()
    existing = state.version_at(head)
    if existing and version in (None, existing):
        return PromoteResult(existing, head, [], new=False)

    stale = stale_stages(root)
    if stale:
        raise UserError(f"dvc.lock is stale, run `dvc repro` and commit it: {'; '.join(stale)}")
    outs = dvc.lock_outputs(dvc.read_lock(root / DVC_LOCK))
    model_path = artifact_path(root, cfg.artifact)
    required = [p for p in dict.fromkeys([model_path, *cfg.outputs]) if p in outs]
    if model_path not in outs:
        raise UserError(f"{DVC_LOCK}: no stage produces {model_path} (artifacts.yaml {cfg.artifact}.path)")
    missing = missing_in_remote(root, required)
    if missing:
        # The model first, then the other outputs in dvc.lock order: the message names the artifact.
        names = [p for p in required if p in missing]
        path, why = names[0], missing[names[0]]
        more = f" (and {', '.join(names[1:])})" if len(names) > 1 else ""
        raise UserError(
            f"{path}{more} is not in the DVC remote ({why}): run `dvc push` first, a tag must name a fetchable model"
        )

    pinned = version
    for _attempt in range(PUSH_ATTEMPTS):
        state = reg.state()
        existing = state.version_at(head)
        if existing and pinned in (None, existing):
            return PromoteResult(existing, head, [], new=False)
        same = None if pinned else unchanged_since(root, state, model_path)
        if same:
            return PromoteResult(same, head, [], new=False, unchanged_since=same)
        version = next_version(reg, state, pinned, bump_override)
        created = _register(reg, head, version, pr)
        if not push:
            return PromoteResult(version, head, created, new=True)
        err = reg.try_push(*created)
        if err is None:
            return PromoteResult(version, head, created, new=True)
        reg.delete_local(*created)
        before = {(t.name, t.commit) for t in list_tags(root)}
        reg.fetch_tags()
        if {(t.name, t.commit) for t in list_tags(root)} == before:
            raise UserError(f"could not push {', '.join(created)} to {cfg.git_remote} (deleted locally): {err}")
        log.info("%s was taken on %s meanwhile: fetched its tags, trying the next version", created[0], cfg.git_remote)
    raise UserError(f"gave up after {PUSH_ATTEMPTS} attempts: {cfg.git_remote} kept taking the next version first")


def train_outputs(lock: dict[str, Any] | None, model_path: str) -> dict[str, str | None]:
    """{path: md5} of the outputs of the stage that produces the model (the train stage)."""
    outs = dvc.lock_outputs(lock)
    stage = outs.get(model_path, {}).get("stage")
    return {p: o["md5"] for p, o in outs.items() if stage is not None and o["stage"] == stage}


def unchanged_since(root: Path, state: RegistryState, model_path: str) -> str | None:
    """The latest version when HEAD's train outputs in dvc.lock equal that version's commit's, else None."""
    if state.latest is None:
        return None
    head = train_outputs(dvc.lock_at("HEAD", root), model_path)
    last = train_outputs(dvc.lock_at(state.versions[state.latest], root), model_path)
    return state.latest if head and head == last else None


def next_version(reg: Registry, state: RegistryState, pinned: str | None, bump_override: Bump | None) -> str:
    cfg = reg.settings
    if pinned is not None:
        version_key(pinned)
        if pinned in state.versions:
            raise UserError(f"{version_tag(cfg.artifact, pinned)} already exists (at {state.versions[pinned][:12]})")
        return pinned
    if state.latest is None:
        return cfg.first_version
    since = state.versions[state.latest]
    part = bump_override or requested_bump(reg.root, cfg.bump_trailer, since, cfg.default_bump)
    return bump(state.latest, part)


def _register(reg: Registry, head: str, version: str, pr: str | None) -> list[str]:
    """Make the version tag (GTO, annotated, registry.tag_message) and the auto-stage tag, locally."""
    root, cfg = reg.root, reg.settings
    metrics_text = git.show_text("HEAD", paths.METRICS, root)
    metrics = json.loads(metrics_text) if metrics_text else {}
    subject = git.output("log", "-1", "--format=%s", "HEAD", cwd=root).strip()
    try:
        message = cfg.tag_message.format(
            artifact=cfg.artifact,
            version=version,
            pr=_pr_number(subject, pr),
            commit=head[:12],
            subject=subject,
            metrics=metrics_lines(metrics),
        )
    except (KeyError, IndexError) as err:
        raise UserError(f"params.yaml: registry.tag_message: unknown placeholder {err}") from None

    tag = version_tag(cfg.artifact, version)
    gto_api().register(str(root), cfg.artifact, head, version=version, message=message)
    created = [tag]
    if cfg.auto_stage:
        try:
            created.append(assign(reg, cfg.auto_stage, version, message=f"{tag} to {cfg.auto_stage} by promote"))
        except UserError as err:
            reg.delete_local(*created)
            raise UserError(f"registered {tag} but could not assign {cfg.auto_stage}: {err}") from None
    return created


def assign(
    reg: Registry,
    stage: str,
    version: str,
    *,
    unassign: bool = False,
    push: bool = False,
    message: str | None = None,
) -> str:
    """Assign (or unassign) ``stage`` to a registered version; return the new tag ('' if nothing to do)."""
    gto = gto_api()
    reg.check_stage(stage)
    state = reg.state()
    state.require(version)
    current = state.stages.get(stage)
    if unassign and (version, stage) not in state.active:
        raise UserError(
            f"stage {stage!r} is not assigned to {version} (it shows {current or 'nothing'}): nothing to unassign"
        )
    if not unassign and current == version:
        return ""
    tags = list_tags(reg.root)
    before = {t.name for t in tags}
    _after_last_stage_tag(reg.artifact, tags)
    kw = {
        "message": message or f"{'unassign' if unassign else 'assign'} {stage} {'from' if unassign else 'to'} {version}"
    }
    if unassign:
        gto.unassign(str(reg.root), reg.artifact, stage=stage, version=version, **kw)
    else:
        gto.assign(str(reg.root), reg.artifact, stage, version=version, **kw)
    new = sorted({t.name for t in list_tags(reg.root)} - before)
    if len(new) != 1:
        raise UserError(f"GTO created {len(new)} tags for {stage} {version}, expected one: {new}")
    if push:
        reg.push(new[0])
    return new[0]


def _after_last_stage_tag(artifact: str, tags: Sequence[GitTag]) -> None:
    """Wait until the clock has left the second of the artifact's newest stage tag.

    GTO orders stage events by tag time in whole seconds and breaks ties by list order, so two
    stage tags in one second could make `gto show` and our counter-ordered view disagree. A
    human never assigns twice a second; a script (or promote right after an assign) waits <1 s.
    """
    stamps = [t.created for t in tags if (r := parse_tag(t.name)) and r.artifact == artifact and r.counter is not None]
    if stamps:
        while (left := max(stamps) + 1 - time.time()) > 0:
            time.sleep(left)


# ----------------------------------------------------------------- fetch exactly one model
def fetch_output(root: Path, rev: str, path: str, dest: Path, expected_md5: str | None) -> Path:
    """Write ``path`` as of ``rev`` to ``dest`` and check it against dvc.lock's md5.

    Git-tracked outputs come from git; DVC-tracked ones through DVC at that revision
    (its local cache when it holds them, else the remote).
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    blob = git.show(rev, path, root)
    with atomic_path(dest) as tmp:
        if blob is not None:
            tmp.write_bytes(blob)
        else:
            dvc.copy_output(rev, path, tmp, root)
        got = dvc.file_md5(tmp)
        if expected_md5 and got != expected_md5:
            raise UserError(f"{path} at {rev}: md5 {got} does not match dvc.lock ({expected_md5})")
    return dest
