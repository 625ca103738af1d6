"""`template check|update`: keep a project generated from the template in sync (wraps cruft).

cruft records the template and commit in `.cruft.json`. `cruft check` exits 1 when the template
moved on; `cruft update` stages the template's changes but exits 0 even when it leaves merge
conflicts, so `update` looks for them itself (unmerged paths and `*.rej` files), lists them and
writes the pull-request body the template-sync workflow opens.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

from ..adapters import git
from ..config.errors import GateFailure, UserError

CRUFT_FILE = ".cruft.json"
BOT = ("template-sync", "template-sync@users.noreply.github.com")
log = logging.getLogger(__name__)


def _cruft(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cruft", *args], cwd=cwd, capture_output=True, text=True, check=False)


def read_state(project: Path) -> dict[str, Any] | None:
    """The cruft state, or None for a repository that was not generated from the template."""
    path = project / CRUFT_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not valid JSON ({exc})") from exc


def conflicts(project: Path) -> list[str]:
    """Paths cruft left unmerged (git apply -3) or rejected (*.rej when the 3-way apply failed)."""
    unmerged = git.output("diff", "--name-only", "--diff-filter=U", cwd=project).split()
    untracked = git.output("ls-files", "--others", "--exclude-standard", cwd=project).splitlines()
    rejects = [p for p in untracked if p.endswith(".rej")]
    return sorted(set(unmerged) | set(rejects))


def changed_paths(project: Path) -> list[str]:
    return sorted({line[3:] for line in git.output("status", "--porcelain", cwd=project).splitlines() if line.strip()})


def pr_body(template: str, old: str, new: str, changed: list[str], conflicted: list[str]) -> str:
    lines = [
        "## Template update",
        "",
        f"`cruft update` from `{template}`: `{old[:12]}` → `{new[:12]}`.",
        "",
        f"### Files changed ({len(changed)})",
        *[f"- `{p}`" for p in changed],
        "",
    ]
    if conflicted:
        lines += [
            f"### ⚠️ Conflicts ({len(conflicted)}): resolve before merging",
            "The template changed lines this project changed too. These files hold conflict markers",
            "(`<<<<<<<`) or a `.rej` file with the hunks that did not apply:",
            *[f"- `{p}`" for p in conflicted],
            "",
            "Check out this branch, fix them, delete the `.rej` files, commit and push.",
        ]
    else:
        lines.append("No conflicts: the template's changes applied cleanly.")
    return "\n".join(lines) + "\n"


def write_outputs(path: Path | None, values: dict[str, str]) -> None:
    """key=value lines (the format of $GITHUB_OUTPUT), appended."""
    from ..adapters.io import append_github_output

    append_github_output(path, values)


def check(project: Path, output: Path | None = None) -> bool:
    """True when in sync (or not generated from the template); raises GateFailure when out of date."""
    state = read_state(project)
    if state is None:
        log.info("no %s: this repository was not generated from the template; nothing to check", CRUFT_FILE)
        write_outputs(output, {"linked": "false", "outdated": "false"})
        return True
    proc = _cruft("check", cwd=project)
    outdated = proc.returncode == 1 and "out of date" in proc.stdout
    if proc.returncode != 0 and not outdated:
        last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise UserError(f"cruft check failed for {state.get('template')!r}: {last[0]}")
    write_outputs(output, {"linked": "true", "outdated": str(outdated).lower()})
    if outdated:
        raise GateFailure(f"out of date with the template {state['template']} (at {state['commit'][:12]})")
    log.info("up to date with the template %s at %s", state["template"], state["commit"][:12])
    return True


def update(
    project: Path,
    body_file: Path | None = None,
    output: Path | None = None,
    commit: bool = False,
    allow_conflicts: bool = False,
) -> list[str]:
    """Apply the template's changes; returns the conflicted paths."""
    state = read_state(project)
    if state is None:
        log.info("no %s: this repository was not generated from the template; nothing to update", CRUFT_FILE)
        write_outputs(output, {"updated": "false"})
        return []
    if changed_paths(project):
        raise UserError("the working tree is not clean: commit or stash your changes first (cruft update needs it)")
    old = state["commit"]
    proc = _cruft("update", "--skip-apply-ask", cwd=project)
    if proc.returncode != 0:
        raise UserError(f"cruft update failed: {(proc.stderr or proc.stdout).strip()}")
    new = (read_state(project) or {}).get("commit", old)
    changed = changed_paths(project)
    if not changed:
        log.info("already up to date with the template at %s", old[:12])
        write_outputs(output, {"updated": "false"})
        return []
    conflicted = conflicts(project)
    body = pr_body(state["template"], old, new, changed, conflicted)
    branch = f"template-update/{new[:12]}"
    if commit:
        git.output("switch", "--quiet", "-c", branch, cwd=project)
        git.output("add", "--all", cwd=project)
        ident = [] if git.output("config", "user.email", cwd=project, check=False).strip() else [
            "-c", f"user.name={BOT[0]}", "-c", f"user.email={BOT[1]}"
        ]  # fmt: skip
        git.output(*ident, "commit", "--quiet", "-m", f"Update from the template at {new[:12]}", cwd=project)
    if body_file is not None:
        from ..adapters.io import write_text

        write_text(body_file, body)  # atomic: the PR step never reads half a body
    write_outputs(output, {"updated": "true", "branch": branch, "commit": new, "conflicts": str(len(conflicted))})
    print(body)  # the pull-request body (markdown) is the command's output: stdout
    if conflicted and not allow_conflicts:
        raise GateFailure(f"{len(conflicted)} conflict(s) to resolve: {', '.join(conflicted)}")
    return conflicted


def _check(ns: argparse.Namespace) -> int:
    check(Path.cwd(), ns.output)
    return 0


def _update(ns: argparse.Namespace) -> int:
    update(Path.cwd(), ns.body_file, ns.output, ns.commit, ns.allow_conflicts)
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser(
        "template",
        help="check or apply updates from the template this project was generated from (cruft)",
        description=__doc__,
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    def output(a: argparse.ArgumentParser) -> None:
        a.add_argument("--output", type=Path, help="append key=value results here (e.g. $GITHUB_OUTPUT)")

    c = actions.add_parser("check", help="exit 1 when the template moved on since .cruft.json's commit")
    output(c)
    c.set_defaults(handler=_check)

    u = actions.add_parser(
        "update", help="apply the template's changes (cruft update), list conflicts, print the PR body"
    )
    output(u)
    u.add_argument("--body-file", type=Path, help="also write the pull-request body (markdown) here")
    u.add_argument("--commit", action="store_true", help="commit on a new branch template-update/<sha>")
    u.add_argument("--allow-conflicts", action="store_true", help="exit 0 even when conflicts are left to resolve")
    u.set_defaults(handler=_update)
