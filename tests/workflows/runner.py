"""Rehearse GitHub Actions jobs as a clean runner runs them, offline.

Each job's ``run:`` steps are executed verbatim (read from the YAML) with bash
``-eo pipefail`` in a fresh clone, with the environment a hosted runner gives:

- ``PATH`` without the project's venv (a runner has only the system tools and
  the Python that ``actions/setup-python`` puts first);
- ``GITHUB_OUTPUT``, ``GITHUB_ENV``, ``GITHUB_STEP_SUMMARY`` and ``GITHUB_EVENT_PATH``
  files, ``GITHUB_*`` variables for the event, ``CI=true``;
- workflow, job and step ``env:`` with ``${{ }}`` expressions evaluated against
  the event, the secrets given to the scenario, earlier steps' outputs and the
  outputs of the jobs this one ``needs``;
- ``if:`` conditions on jobs and steps.

Only what needs GitHub itself is replaced: ``uses:`` steps get local stand-ins
(checkout clones the repository, setup-python puts a Python first on PATH,
upload-artifact copies files, the rest are recorded), and ``gh``, ``cml`` and
``docker`` are stand-in scripts that record their arguments. Tests read those
records (``Run.calls``) to assert what a job asked GitHub to do.

Between workflows: a ``workflow_run`` rehearsal downloads the artifacts of the run
that triggered it when given that runner's ``artifacts`` folder. A stand-in can
answer a question GitHub would answer (``replies``: ``"api repos/o/r/pulls/7"``
-> the text it prints when its arguments start so), and ``extra_standins`` replaces
more tools (``npm``, when a job installs a GitHub-only CLI). Given a ``state`` folder
shared by several runs, the docker, gh and attest-build-provenance stand-ins keep an
image registry, attestations and releases there (tests/workflows/standins.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .standins import attest

EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}", re.S)
TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>\d+(?:\.\d+)?)|(?P<op>==|!=|&&|\|\||<=|>=|[!<>(),\[\].*])"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_-]*))"
)
STANDIN_TOOLS = ("gh", "cml", "docker")
# What a hosted runner has on PATH before setup-python (no project venv, no uv).
RUNNER_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")


class Ctx(dict):
    """A context object: missing keys read as '' (GitHub's null), dotted access by the evaluator."""

    def __missing__(self, key: str) -> str:
        return ""


def _wrap(value: Any) -> Any:
    if isinstance(value, dict) and not isinstance(value, Ctx):
        return Ctx({k: _wrap(v) for k, v in value.items()})
    return value


def _truthy(value: Any) -> bool:
    return value not in ("", None, False, 0)


def _loose_eq(a: Any, b: Any) -> bool:
    """GitHub compares strings case-insensitively and coerces booleans/numbers."""
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    if isinstance(a, bool) or isinstance(b, bool):
        return str(a).lower() == str(b).lower()
    return a == b


class Expression:
    """A recursive-descent evaluator for the subset of GitHub's expression syntax our workflows use."""

    def __init__(self, text: str, contexts: dict[str, Any], status: str = "success") -> None:
        self.tokens = [m for m in TOKEN.finditer(text) if m.group(0).strip()]
        self.pos = 0
        self.contexts = contexts
        self.status = status
        consumed = "".join(m.group(0) for m in self.tokens).replace(" ", "")
        if consumed != text.replace(" ", "").replace("\n", ""):
            raise ValueError(f"cannot parse expression: {text!r}")

    def value(self) -> Any:
        result = self._or()
        if self.pos != len(self.tokens):
            raise ValueError(f"unexpected {self._peek()!r}")
        return result

    def _peek(self) -> str:
        return self.tokens[self.pos].group(0).strip() if self.pos < len(self.tokens) else ""

    def _take(self, expected: str | None = None) -> re.Match[str]:
        tok = self.tokens[self.pos]
        if expected is not None and tok.group(0).strip() != expected:
            raise ValueError(f"expected {expected!r}, got {tok.group(0).strip()!r}")
        self.pos += 1
        return tok

    def _or(self) -> Any:
        left = self._and()
        while self._peek() == "||":
            self._take()
            right = self._and()
            left = left if _truthy(left) else right
        return left

    def _and(self) -> Any:
        left = self._cmp()
        while self._peek() == "&&":
            self._take()
            right = self._cmp()
            left = right if _truthy(left) else left
        return left

    def _cmp(self) -> Any:
        left = self._unary()
        while self._peek() in ("==", "!=", "<", ">", "<=", ">="):
            op = self._take().group(0).strip()
            right = self._unary()
            if op == "==":
                left = _loose_eq(left, right)
            elif op == "!=":
                left = not _loose_eq(left, right)
            else:
                left = {"<": left < right, ">": left > right, "<=": left <= right, ">=": left >= right}[op]
        return left

    def _unary(self) -> Any:
        if self._peek() == "!":
            self._take()
            return not _truthy(self._unary())
        return self._primary()

    def _primary(self) -> Any:
        tok = self._take()
        if tok.group("str") is not None:
            return tok.group("str")[1:-1].replace("''", "'")
        if tok.group("num") is not None:
            return float(tok.group("num")) if "." in tok.group("num") else int(tok.group("num"))
        if tok.group(0).strip() == "(":
            inner = self._or()
            self._take(")")
            return inner
        name = tok.group("name")
        if name is None:
            raise ValueError(f"unexpected {tok.group(0).strip()!r}")
        if self._peek() == "(":
            return self._call(name)
        if name in ("true", "false"):
            return name == "true"
        if name == "null":
            return ""
        value: Any = self.contexts.get(name, "")
        while self._peek() in (".", "["):
            if self._take().group(0).strip() == ".":
                key = self._take().group(0).strip()
            else:
                key = str(self._or())
                self._take("]")
            value = value.get(key, "") if isinstance(value, dict) else ""
        return value

    def _call(self, name: str) -> Any:
        self._take("(")
        args = []
        while self._peek() != ")":
            args.append(self._or())
            if self._peek() == ",":
                self._take()
        self._take(")")
        fn = name.lower()
        if fn == "success":
            return self.status == "success"
        if fn == "failure":
            return self.status == "failure"
        if fn in ("always",):
            return True
        if fn == "cancelled":
            return False
        if fn == "contains":
            hay, needle = args
            if isinstance(hay, list):
                return any(_loose_eq(h, needle) for h in hay)
            return str(needle).lower() in str(hay).lower()
        if fn == "startswith":
            return str(args[0]).lower().startswith(str(args[1]).lower())
        if fn == "endswith":
            return str(args[0]).lower().endswith(str(args[1]).lower())
        if fn == "format":
            return re.sub(r"\{(\d+)\}", lambda m: str(args[1 + int(m.group(1))]), str(args[0]))
        if fn == "hashfiles":
            root = self.contexts.get(WORKSPACE_KEY)
            return hash_files(Path(root), [str(a) for a in args]) if root else "0" * 64
        if fn == "tojson":
            return json.dumps(args[0])
        if fn == "fromjson":
            return _wrap(json.loads(args[0]))
        raise ValueError(f"unsupported function {name}()")


# Step conditions know the job's workspace under this key, so hashFiles() hashes real files there
# ('' when none match, as on GitHub); elsewhere (job-level, no workspace yet) it stays a constant.
WORKSPACE_KEY = "__workspace__"


def hash_files(root: Path, patterns: list[str]) -> str:
    """hashFiles(): one sha256 over the sha256 of every matching file, '' when no file matches."""
    found = sorted({p for pattern in patterns for p in root.glob(pattern) if p.is_file()})
    if not found:
        return ""
    outer = hashlib.sha256()
    for p in found:
        outer.update(hashlib.sha256(p.read_bytes()).digest())
    return outer.hexdigest()


def evaluate(text: Any, contexts: dict[str, Any], status: str = "success") -> Any:
    """Expand every ``${{ }}`` in ``text``; a string that is one whole expression keeps its type."""
    if not isinstance(text, str):
        return text
    whole = EXPR.fullmatch(text.strip())
    if whole and "${{" not in whole.group(1):  # one expression, not `${{ a }}/${{ b }}`
        return Expression(whole.group(1), contexts, status).value()
    return EXPR.sub(lambda m: _as_text(Expression(m.group(1), contexts, status).value()), text)


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def condition(text: Any, contexts: dict[str, Any], status: str = "success") -> bool:
    """An ``if:`` (with or without ``${{ }}``); implicitly ``success() && ...`` unless it names a status function."""
    if text is None:
        return status == "success"
    raw = str(text).strip()
    raw = EXPR.fullmatch(raw).group(1) if EXPR.fullmatch(raw) else raw
    names_status = re.search(r"\b(always|failure|success|cancelled)\s*\(", raw)
    ok = _truthy(Expression(raw, contexts, status).value())
    return ok if names_status else ok and status == "success"


def parse_env_file(path: Path) -> dict[str, str]:
    """``key=value`` lines and ``key<<DELIM`` heredocs, as GITHUB_OUTPUT/GITHUB_ENV are written."""
    out: dict[str, str] = {}
    if not path.exists():
        return out
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, delim = line.split("<<", 1)
            body = []
            i += 1
            while i < len(lines) and lines[i] != delim:
                body.append(lines[i])
                i += 1
            out[key] = "\n".join(body)
        elif "=" in line:
            key, value = line.split("=", 1)
            out[key] = value
        i += 1
    return out


@dataclass
class StepResult:
    name: str
    kind: str  # run | uses | skipped
    rc: int = 0
    output: str = ""
    outputs: dict[str, str] = field(default_factory=dict)


@dataclass
class JobResult:
    job: str
    status: str  # success | failure | skipped
    steps: list[StepResult] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    summary: str = ""
    environment: str = ""

    def step(self, name_part: str) -> StepResult:
        for s in self.steps:
            if name_part in s.name:
                return s
        raise KeyError(f"{self.job}: no step named like {name_part!r}: {[s.name for s in self.steps]}")

    @property
    def log(self) -> str:
        return "\n".join(f"--- {s.name} [{s.kind} rc={s.rc}]\n{s.output}" for s in self.steps)


@dataclass
class Event:
    """What GitHub would put in the ``github`` context for one trigger."""

    name: str  # pull_request, push, schedule, workflow_dispatch, workflow_run, workflow_call
    ref: str = "refs/heads/main"
    sha: str = ""
    payload: dict[str, Any] = field(default_factory=dict)
    repository: str = "example/ml-gitops"
    actor: str = "octocat"
    base_ref: str = ""
    head_ref: str = ""
    inputs: dict[str, Any] = field(default_factory=dict)


class Runner:
    """Runs the jobs of one workflow file for one event in fresh clones of ``origin``."""

    def __init__(
        self,
        workflow: Path,
        origin: Path,
        work: Path,
        event: Event,
        secrets: dict[str, str] | None = None,
        vars_: dict[str, str] | None = None,
        extra_env: dict[str, str] | None = None,
        artifacts: Path | None = None,
        replies: dict[str, dict[str, str]] | None = None,
        extra_standins: tuple[str, ...] = (),
        state: Path | None = None,
        artifacts_from_common_root: bool = False,
    ) -> None:
        self.workflow_path = workflow
        self.wf = yaml.safe_load(workflow.read_text())
        self.origin = origin
        self.work = work
        self.event = event
        self.secrets = dict(secrets or {})
        self.vars = dict(vars_ or {})
        self.extra_env = dict(extra_env or {})
        self.calls_file = work / "calls.jsonl"
        self.artifacts = artifacts or work / "artifacts"
        self.replies = {tool: dict(r) for tool, r in (replies or {}).items()}
        self.tools = (*STANDIN_TOOLS, *extra_standins)
        # Optional: a folder shared by several runs, where docker/gh/attest stand-ins keep what a
        # registry and GitHub would hold between runs (tests/workflows/standins.py).
        self.state = state
        # Opt-in: store uploaded paths relative to their least common ancestor, as upload-artifact does.
        self.common_root = artifacts_from_common_root
        self.standins = work / "standin-bin"
        self._make_standins()

    # ------------------------------------------------------------------ stand-ins
    def _make_standins(self) -> None:
        self.standins.mkdir(parents=True, exist_ok=True)
        for tool in self.tools:
            script = self.standins / tool
            replies = json.dumps(self.replies.get(tool, {}))
            script.write_text(
                f"#!{sys.executable}\n"
                "import json, os, sys\n"
                "stdin = '' if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()\n"
                f"rec = {{'tool': {tool!r}, 'argv': sys.argv[1:], 'cwd': os.getcwd(), 'stdin': stdin,\n"
                "       'env': {k: v for k, v in os.environ.items()\n"
                "               if k in ('GH_TOKEN', 'REPO_TOKEN', 'GITHUB_TOKEN')}}\n"
                f"with open({str(self.calls_file)!r}, 'a') as f:\n"
                "    f.write(json.dumps(rec) + '\\n')\n"
                f"replies = json.loads({replies!r})\n"
                "said = ' '.join(sys.argv[1:])\n"
                "for prefix, text in replies.items():\n"
                "    if said.startswith(prefix):\n"
                "        print(text)\n"
                "        break\n"
                + (
                    f"sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})\n"
                    "from tests.workflows.standins import answer\n"
                    f"sys.exit(answer({tool!r}, sys.argv[1:], {str(self.state)!r}))\n"
                    if self.state is not None
                    else ""
                )
            )
            script.chmod(0o755)

    @property
    def calls(self) -> list[dict[str, Any]]:
        if not self.calls_file.exists():
            return []
        return [json.loads(line) for line in self.calls_file.read_text().splitlines() if line]

    # ------------------------------------------------------------------ contexts
    def _github(self) -> Ctx:
        ev = self.event
        return _wrap(
            {
                "event_name": ev.name,
                "ref": ev.ref,
                "ref_name": ev.ref.rsplit("/", 1)[-1]
                if ev.ref.startswith("refs/heads/")
                else ev.ref.removeprefix("refs/tags/"),
                "sha": ev.sha,
                "repository": ev.repository,
                "repository_owner": ev.repository.split("/")[0],
                "actor": ev.actor,
                "base_ref": ev.base_ref,
                "head_ref": ev.head_ref,
                "event": ev.payload,
                "server_url": "https://github.com",
                "run_id": "1",
                "run_attempt": "1",
                "workflow": self.wf.get("name", ""),
                "token": "ghs_standin_token",
                "workspace": "",
            }
        )

    def _contexts(self, needs: dict[str, JobResult], env: dict[str, str], steps: dict[str, Any]) -> dict[str, Any]:
        return {
            "github": self._github(),
            "secrets": Ctx({"GITHUB_TOKEN": "ghs_standin_token", **self.secrets}),
            "vars": Ctx(self.vars),
            "env": Ctx(env),
            "inputs": Ctx(self.event.inputs),
            "needs": Ctx({k: Ctx({"outputs": Ctx(v.outputs), "result": v.status}) for k, v in needs.items()}),
            "steps": Ctx(steps),
            "runner": Ctx({"os": "Linux", "temp": str(self.work / "runner-temp"), "arch": "X64"}),
            "job": Ctx({"status": "success"}),
            "matrix": Ctx(),
            "strategy": Ctx(),
        }

    # ------------------------------------------------------------------ jobs
    def run(self, only: list[str] | None = None) -> dict[str, JobResult]:
        """Every job (or ``only`` these and what they need), in ``needs`` order."""
        jobs: dict[str, Any] = self.wf.get("jobs") or {}
        done: dict[str, JobResult] = {}
        wanted = set(only or jobs)
        order = self._order(jobs)
        for job_id in order:
            if job_id not in wanted and not any(job_id in self._all_needs(jobs, w) for w in wanted):
                continue
            done[job_id] = self.run_job(job_id, done)
        return done

    @staticmethod
    def _needs(job: dict[str, Any]) -> list[str]:
        needs = job.get("needs") or []
        return [needs] if isinstance(needs, str) else list(needs)

    def _all_needs(self, jobs: dict[str, Any], job_id: str) -> set[str]:
        out: set[str] = set()
        for n in self._needs(jobs[job_id]):
            out |= {n, *self._all_needs(jobs, n)}
        return out

    def _order(self, jobs: dict[str, Any]) -> list[str]:
        order: list[str] = []
        while len(order) < len(jobs):
            for job_id, job in jobs.items():
                if job_id not in order and all(n in order for n in self._needs(job)):
                    order.append(job_id)
        return order

    def run_job(self, job_id: str, done: dict[str, JobResult]) -> JobResult:
        job = self.wf["jobs"][job_id]
        needs = {n: done[n] for n in self._needs(job) if n in done}
        upstream_ok = all(r.status == "success" for r in needs.values())
        env = {k: _as_text(evaluate(v, self._contexts(needs, {}, {}))) for k, v in (self.wf.get("env") or {}).items()}
        status = "success" if upstream_ok else "failure"
        if not condition(job.get("if"), self._contexts(needs, env, {}), status):
            return JobResult(job_id, "skipped")
        if "uses" in job:  # a reusable workflow call: recorded, run by its own scenario
            rec = {
                "tool": "workflow_call",
                "argv": [job["uses"]],
                "with": {
                    k: _as_text(evaluate(v, self._contexts(needs, env, {}))) for k, v in (job.get("with") or {}).items()
                },
            }
            with self.calls_file.open("a") as f:
                f.write(json.dumps(rec) + "\n")
            return JobResult(job_id, "success")
        job_env = {k: _as_text(evaluate(v, self._contexts(needs, env, {}))) for k, v in (job.get("env") or {}).items()}
        env.update(job_env)
        environment = job.get("environment")
        if isinstance(environment, dict):
            environment = environment.get("name")
        result = JobResult(
            job_id, "success", environment=_as_text(evaluate(environment or "", self._contexts(needs, env, {})))
        )
        # Workspaces are siblings, so the committed DVC remote (a directory beside the
        # checkout, `../ml-gitops-dvc-remote`) is one shared store, as S3 would be.
        workspace = self.work / "ws" / job_id
        temp = self.work / "tmp" / job_id
        for d in (workspace, temp):
            shutil.rmtree(d, ignore_errors=True)
            d.mkdir(parents=True)
        event_path = temp / "event.json"
        event_path.write_text(json.dumps(self.event.payload))
        files = {
            name: temp / name.lower() for name in ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_STEP_SUMMARY", "GITHUB_PATH")
        }
        path_prefix: list[str] = []
        steps_ctx: dict[str, Any] = {}
        status = "success"
        for i, step in enumerate(job.get("steps") or []):
            name = step.get("name") or step.get("uses") or step.get("run", "").splitlines()[0]
            step_env = dict(env)
            step_env.update(parse_env_file(files["GITHUB_ENV"]))
            ctx = self._contexts(needs, step_env, steps_ctx)
            ctx[WORKSPACE_KEY] = str(workspace)
            if not condition(step.get("if"), ctx, status):
                result.steps.append(StepResult(name, "skipped"))
                continue
            step_env.update({k: _as_text(evaluate(v, ctx)) for k, v in (step.get("env") or {}).items()})
            for f in files.values():
                f.touch()
            base_env = self._base_env(workspace, temp, event_path, files, path_prefix)
            full_env = {**base_env, **step_env}
            if "uses" in step:
                res = self._uses(step, ctx, workspace, full_env, path_prefix, name)
            else:
                res = self._run(step, ctx, workspace, full_env, name, i)
            outputs = parse_env_file(files["GITHUB_OUTPUT"])
            files["GITHUB_OUTPUT"].write_text("")
            res.outputs = outputs
            if step.get("id"):
                steps_ctx[step["id"]] = Ctx(
                    {"outputs": Ctx(outputs), "outcome": "success" if res.rc == 0 else "failure"}
                )
            if files["GITHUB_PATH"].exists():
                path_prefix[:0] = [
                    p for p in files["GITHUB_PATH"].read_text().splitlines() if p and p not in path_prefix
                ]
            result.steps.append(res)
            if res.rc != 0 and not step.get("continue-on-error"):
                status = "failure"
        result.status = status
        result.summary = files["GITHUB_STEP_SUMMARY"].read_text()
        ctx = self._contexts(needs, env, steps_ctx)
        result.outputs = {k: _as_text(evaluate(v, ctx)) for k, v in (job.get("outputs") or {}).items()}
        return result

    def _base_env(
        self, workspace: Path, temp: Path, event_path: Path, files: dict[str, Path], prefix: list[str]
    ) -> dict[str, str]:
        ev = self.event
        path = [*prefix, str(self.standins), *RUNNER_PATH]
        env = {
            "PATH": os.pathsep.join(path),
            "HOME": str(self.work / "home"),
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_WORKSPACE": str(workspace),
            "GITHUB_EVENT_NAME": ev.name,
            "GITHUB_EVENT_PATH": str(event_path),
            "GITHUB_REF": ev.ref,
            "GITHUB_SHA": ev.sha,
            "GITHUB_REPOSITORY": ev.repository,
            "GITHUB_ACTOR": ev.actor,
            "GITHUB_BASE_REF": ev.base_ref,
            "GITHUB_HEAD_REF": ev.head_ref,
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_RUN_ID": "1",
            "RUNNER_OS": "Linux",
            "RUNNER_TEMP": str(temp),
            "LANG": "C.UTF-8",
            **{k: str(v) for k, v in files.items()},
        }
        (self.work / "home").mkdir(exist_ok=True)
        env.update(self.extra_env)
        return env

    def _run(
        self, step: dict[str, Any], ctx: dict[str, Any], workspace: Path, env: dict[str, str], name: str, i: int
    ) -> StepResult:
        script = _as_text(evaluate(step["run"], ctx))
        cwd = workspace / step.get("working-directory", ".")
        path = self.work / "tmp" / workspace.name / f"step-{i}.sh"
        path.write_text(script)
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(path)],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=1800,
        )
        return StepResult(name, "run", proc.returncode, proc.stdout + proc.stderr)

    def _uses(
        self,
        step: dict[str, Any],
        ctx: dict[str, Any],
        workspace: Path,
        env: dict[str, str],
        prefix: list[str],
        name: str,
    ) -> StepResult:
        action = step["uses"].split("@", 1)[0]
        with_ = {k: _as_text(evaluate(v, ctx)) for k, v in (step.get("with") or {}).items()}
        rec = {"tool": "uses", "argv": [action], "with": with_}
        with self.calls_file.open("a") as f:
            f.write(json.dumps(rec) + "\n")
        if action == "actions/checkout":
            return self._checkout(with_, workspace, name)
        if action == "actions/setup-python":
            # setup-python puts one interpreter (and its scripts dir) first on PATH: the one running us.
            bindir = str(Path(sys.executable).resolve().parent)
            prefix.insert(0, bindir)
            return StepResult(name, "uses", 0, f"python at {bindir}")
        if action == "actions/attest-build-provenance" and self.state is not None:
            try:
                return StepResult(name, "uses", 0, attest(with_, workspace, self.state))
            except FileNotFoundError as err:
                return StepResult(name, "uses", 1, str(err))
        if action == "actions/upload-artifact":
            dest = self.artifacts / with_.get("name", "artifact")
            dest.mkdir(parents=True, exist_ok=True)
            found = [src for pattern in with_.get("path", "").split() for src in workspace.glob(pattern)]
            roots = [p if p.is_dir() else p.parent for p in found]
            root = Path(os.path.commonpath(roots)) if found and self.common_root else workspace
            for pattern in with_.get("path", "").split():
                for src in workspace.glob(pattern):
                    target = dest / src.relative_to(root)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    if src.is_dir():
                        shutil.copytree(src, target, dirs_exist_ok=True)
                    else:
                        shutil.copy2(src, target)
            return StepResult(name, "uses", 0, f"uploaded to {dest}")
        if action == "actions/download-artifact":
            src = self.artifacts / with_.get("name", "artifact")
            dest = workspace / with_.get("path", ".")
            if not src.exists():
                return StepResult(name, "uses", 1, f"no artifact {with_.get('name')}")
            shutil.copytree(src, dest, dirs_exist_ok=True)
            return StepResult(name, "uses", 0, f"downloaded {src}")
        return StepResult(name, "uses", 0, "recorded")

    def _checkout(self, with_: dict[str, str], workspace: Path, name: str) -> StepResult:
        ref = with_.get("ref") or self.event.ref
        depth = int(with_.get("fetch-depth") or 1)
        cmd = ["git", "clone", "--quiet", "--no-checkout"]
        if depth > 0:
            cmd += [f"--depth={depth}", "--no-single-branch"]
        proc = subprocess.run(
            [*cmd, f"file://{self.origin}", str(workspace)], capture_output=True, text=True, check=False
        )
        if proc.returncode == 0:
            target = self.event.sha if not with_.get("ref") and self.event.sha else ref
            fetch = subprocess.run(
                ["git", "fetch", "--quiet", "--tags", "origin", ref] if ref.startswith("refs/") else ["true"],
                cwd=workspace,
                capture_output=True,
                text=True,
                check=False,
            )
            proc = subprocess.run(
                ["git", "checkout", "--quiet", "--detach", target if target else "FETCH_HEAD"],
                cwd=workspace,
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0 and fetch.returncode == 0:
                proc = subprocess.run(
                    ["git", "checkout", "--quiet", "--detach", "FETCH_HEAD"],
                    cwd=workspace,
                    capture_output=True,
                    text=True,
                    check=False,
                )
        if with_.get("persist-credentials", "true") != "false":
            subprocess.run(
                ["git", "config", "http.extraheader", "AUTHORIZATION: basic standin"], cwd=workspace, check=False
            )
        return StepResult(name, "uses", proc.returncode, proc.stdout + proc.stderr)
