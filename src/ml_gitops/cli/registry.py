"""`registry promote|assign|show|plan|resolve`: the git-tag model registry (GTO grammar).

Top-level imports stay light: every CLI start imports this module.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path
from typing import Any

BUMP_CHOICES = ("major", "minor", "patch")
log = logging.getLogger(__name__)


def _outputs(values: dict[str, Any], github_output: str | None) -> None:
    """Print key=value lines (stdout: scripts read them); append them to $GITHUB_OUTPUT too when it is set."""
    from ..adapters.io import append_github_output

    print("\n".join(f"{k}={'' if v is None else v}" for k, v in values.items()))
    append_github_output(github_output, values)


def _promote(ns: argparse.Namespace) -> int:
    from ..registry.tags import Registry, promote

    reg = Registry.open(ns.repo)
    res = promote(reg, push=ns.push, bump_override=ns.bump, version=ns.version, pr=ns.pr)
    if res.unchanged_since:
        log.info("model unchanged since %s; nothing to register", res.unchanged_since)
    elif not res.new:
        log.info("%s is already %s@%s: nothing registered", res.commit[:12], reg.artifact, res.version)
    else:
        where = "pushed to " + reg.settings.git_remote if ns.push else "local only (use --push)"
        log.info("registered %s at %s (%s)", ", ".join(res.tags), res.commit[:12], where)
    _outputs(
        {
            "version": res.version,
            "new": str(res.new).lower(),
            "tags": " ".join(res.tags),
            "stage_tag": next((t for t in res.tags if "#" in t), ""),
        },
        os.environ.get("GITHUB_OUTPUT") if ns.github_output else None,
    )
    return 0


def _assign(ns: argparse.Namespace) -> int:
    from ..registry.tags import Registry, assign

    reg = Registry.open(ns.repo)
    tag = assign(reg, ns.stage, ns.version, unassign=ns.unassign, push=ns.push)
    if not tag:
        log.info("%s is already at %s: nothing to do", ns.stage, ns.version)
    else:
        verb = "unassigned" if ns.unassign else "assigned"
        log.info(
            "%s %s %s %s: tag %s%s",
            verb,
            ns.stage,
            "from" if ns.unassign else "to",
            ns.version,
            tag,
            " pushed" if ns.push else " (local only, use --push)",
        )
    return 0


def registry_view(root: Path) -> dict[str, Any]:
    from ..registry.tags import Registry

    reg = Registry.open(root)
    st = reg.state()
    return {
        "artifact": reg.artifact,
        "latest": st.latest,
        "stages": st.stages,
        "versions": [
            {"version": v, "commit": st.versions[v], "stages": st.stages_of(v)} for v in reversed(st.sorted_versions())
        ],
    }


def _show(ns: argparse.Namespace) -> int:
    """The registry as a markdown table (or JSON) on stdout: this listing is the command's output."""
    if ns.fetch:
        from ..adapters import git

        git.run("fetch", "--quiet", "--force", "--tags", ns.remote, cwd=ns.repo)
    view = registry_view(ns.repo)
    if ns.json:
        print(json.dumps(view, indent=2))
        return 0
    stages = ", ".join(f"{s}={v or '-'}" for s, v in view["stages"].items())
    print(f"{view['artifact']}: latest {view['latest'] or '-'}; {stages or 'no stages in .gto'}")
    print("| version | commit | stages |\n|---|---|---|")
    for v in view["versions"]:
        print(f"| {v['version']} | {v['commit'][:12]} | {', '.join(v['stages'])} |")
    return 0


def _plan(ns: argparse.Namespace) -> int:
    """What a pushed ref asks deploy to do; a ref that is not ours plans nothing (exit 0).

    A registry tag deploys only when registry/provenance.py's checks pass (merged commit,
    promote's annotated version tag, dvc.lock's model md5); else one line names the check.
    """
    from ..registry import provenance
    from ..registry.tags import Action, Registry, parse_tag, resolve_commit, version_tag

    out = os.environ.get("GITHUB_OUTPUT") if ns.github_output else None
    nothing = {"deploy": "false", "version": "", "stage": "", "tag": "", "commit": "", "md5": ""}
    reg = Registry.open(ns.repo)
    ref = parse_tag(ns.ref)
    name = ns.ref.removeprefix("refs/tags/")
    if ref is None and name.startswith((f"{reg.artifact}@", f"{reg.artifact}#")):
        from ..config.errors import UserError

        raise UserError(
            f"{name}: malformed registry tag (expected {reg.artifact}@vX.Y.Z or {reg.artifact}#<stage>#<n>)"
        )
    if ref is None or ref.artifact != reg.artifact:
        why = "not a registry tag" if ref is None else f"a tag of artifact {ref.artifact!r}, not {reg.artifact!r}"
        log.info("%s: %s: nothing to deploy", ns.ref, why)
        _outputs(nothing, out)
        return 0
    if ref.action in (Action.DEREGISTER, Action.UNASSIGN):
        log.info("%s: %s: nothing to deploy", ns.ref, ref.action.value)
        _outputs(nothing, out)
        return 0
    state = reg.state()
    proof = provenance.check_ref(reg.root, reg.settings, ref, state)
    _cross_check(reg.root, ref)
    if ref.action is Action.REGISTER:
        version, stage = ref.version or "", ""
        state.require(version)
    else:
        commit = resolve_commit(reg.root, ref.tag)
        version = state.version_at(commit) or ""
        stage = ref.stage or ""
        if not version:
            from ..config.errors import UserError

            raise UserError(f"{ns.ref}: points at {commit[:12]}, which no registered version names")
        if state.stages.get(stage) != version:
            now = state.stages.get(stage) or "nothing"
            log.info("%s: superseded (%s is now at %s): nothing to deploy", ns.ref, stage, now)
            _outputs(nothing, out)
            return 0
    tag = version_tag(reg.artifact, version)
    plan = {"deploy": "true", "version": version, "stage": stage, "tag": tag, "commit": state.versions[version]}
    _outputs({**plan, "md5": proof.md5}, out)
    return 0


def _cross_check(root: Path, ref: Any) -> None:
    """GTO's own parse of the tag must agree with ours (`gto check-ref`), when the tag exists here."""
    from ..adapters import git
    from ..config.errors import UserError
    from ..registry.tags import Action

    if not git.output("tag", "--list", ref.tag, cwd=root).strip():
        raise UserError(f"{ref.tag}: tag not found in this clone (fetch tags: git fetch --tags)")
    from ..registry.tags import gto_api

    events = gto_api().check_ref(str(root), ref.tag)
    key = "version" if ref.action is Action.REGISTER else "stage"
    want = ref.version if key == "version" else ref.stage
    got = [getattr(ev, key, None) for ev in events if getattr(ev, "artifact", None) == ref.artifact]
    if got != [want]:
        raise UserError(f"{ref.tag}: gto check-ref reads {key} {got or 'nothing'}, our parser {want!r}")


def _resolve(ns: argparse.Namespace) -> int:
    """Resolve a stage to its version and fetch exactly that model (md5 checked against dvc.lock).

    The version must pass registry/provenance.py's checks, as `registry plan` does.
    """
    from ..adapters import git
    from ..config.errors import UserError
    from ..registry import provenance
    from ..registry.tags import Registry, fetch_output, version_tag

    reg = Registry.open(ns.repo)
    reg.check_stage(ns.stage)
    if ns.fetch:
        git.run("fetch", "--quiet", "--force", "--tags", reg.settings.git_remote, cwd=reg.root)
    state = reg.state()
    version = state.stages.get(ns.stage)
    if not version:
        raise UserError(f"stage {ns.stage!r} has no version assigned (see `{__package__.split('.')[0]} registry show`)")
    tag = version_tag(reg.artifact, version)
    proof = provenance.check_version_tag(reg.root, reg.settings, version)
    dest = Path(ns.out) / Path(proof.model).name
    fetch_output(reg.root, tag, proof.model, dest, proof.md5)
    _outputs(
        {
            "stage": ns.stage,
            "version": version,
            "tag": tag,
            "commit": state.versions[version],
            "model": dest,
            "md5": proof.md5,
        },
        os.environ.get("GITHUB_OUTPUT") if ns.github_output else None,
    )
    return 0


def register(sub: Any) -> None:
    group = sub.add_parser(
        "registry",
        help="the model registry (git tags, GTO grammar): promote, assign, show, plan or resolve",
        description="Versions and stage assignments are git tags in GTO's grammar "
        "(model@v1.2.0, model#prod#3); deploy.yml runs `registry plan` and `registry resolve`.",
    )
    actions = group.add_subparsers(dest="registry_command", required=True, metavar="ACTION")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--repo", type=Path, default=Path(), help="the git repository holding the registry tags")

    def github_output(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--github-output", action="store_true", help="also append the key=value outputs to $GITHUB_OUTPUT"
        )

    p = actions.add_parser(
        "promote",
        help="register HEAD as the next model version (GTO tag) and assign staging",
        description="Register HEAD as the next model version and assign staging. "
        "Refuses when dvc.lock is stale or the model is not in the DVC remote; registers nothing "
        "when the model (the train stage's outputs in dvc.lock) is the latest version's. "
        "With --push, a version number a concurrent promote took is retried with the next one. "
        "Prints version=, new=, tags=, stage_tag= lines.",
    )
    common(p)
    p.add_argument("--push", action="store_true", help="push the new tags to the git remote")
    p.add_argument(
        "--bump",
        choices=BUMP_CHOICES,
        default=None,
        help="override the bump (default: Release-Bump trailer on the merged commits, else minor)",
    )
    p.add_argument("--version", default=None, help="register exactly this version (vX.Y.Z) instead of bumping")
    p.add_argument(
        "--pr", default=os.environ.get("PR_NUMBER") or None, help="PR number for the tag message (default: $PR_NUMBER)"
    )
    github_output(p)
    p.set_defaults(handler=_promote)

    p = actions.add_parser("assign", help="assign (or --unassign) a stage to a registered version: rollback too")
    common(p)
    p.add_argument("--stage", required=True, help="stage to move, one of .gto's stages (e.g. prod)")
    p.add_argument("--version", required=True, help="registered version the stage points at (vX.Y.Z)")
    p.add_argument("--unassign", action="store_true", help="remove the stage from that version instead")
    p.add_argument("--push", action="store_true", help="push the new tag to the git remote")
    p.set_defaults(handler=_assign)

    p = actions.add_parser("show", help="show registered versions and which one each stage holds (markdown table)")
    common(p)
    p.add_argument("--json", action="store_true", help="print the registry as JSON instead")
    p.add_argument("--fetch", action="store_true", help="fetch tags from the remote first")
    p.add_argument("--remote", default="origin", help="git remote to fetch tags from (with --fetch)")
    p.set_defaults(handler=_show)

    p = actions.add_parser(
        "plan",
        help="parse a pushed ref (GTO grammar): what deploy should do (deploy=, version=, stage=, tag=, commit=)",
    )
    common(p)
    p.add_argument("--ref", required=True, help="the pushed git ref, e.g. refs/tags/model#prod#3")
    github_output(p)
    p.set_defaults(handler=_plan)

    p = actions.add_parser(
        "resolve", help="resolve a stage to its version and fetch exactly that model (md5 checked against dvc.lock)"
    )
    common(p)
    p.add_argument("--stage", required=True, help="stage to resolve (e.g. prod)")
    p.add_argument("--out", type=Path, default=Path("dist/deploy"), help="folder the model is fetched into")
    p.add_argument("--fetch", action="store_true", help="fetch tags from the remote first")
    github_output(p)
    p.set_defaults(handler=_resolve)
