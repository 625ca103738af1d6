"""Every command in README.md and docs/ works as written from a fresh shell (issue 16, point 6).

A fresh shell has no activated venv: `dvc`, `ml-gitops`, `pytest` and the project's `python` are not
on PATH there (a bare `dvc` is exit 127). Shell lines in fenced ```bash/sh/shell/console blocks are
what people paste, so each must go through `make <target>`, `.venv/bin/<tool>` or `uv run <tool>`,
or be a system tool (git, gh, curl, docker, ...), or an installer line the same page shows (pipx,
uv tool, uvx) for cookiecutter/cruft. A full-line comment that starts with a command word is a
commented-out follow-up and is checked the same way; a trailing comment is prose, unless it is an
`= equivalent command`.

Inline code in prose (`make params`, `dvc exp run -S ...`, `ml-gitops registry show --json`) names
commands rather than giving a line to paste, and README says venv tools run as `.venv/bin/<tool>`:
those get the static checks only, plus no bare `python` (a fresh shell's python lacks our packages).
Static checks, everywhere: a `make` target exists and each `VAR=` is one its recipe reads; a
`.venv/bin/<tool>` is installed; `ml-gitops` and `dvc` subcommands and `--options` exist in their
argparse parsers (walked with the CLI test's helpers); a `python <script>` names a file that exists.
The real run from a fresh shell is tests/e2e/test_fresh_shell.py.
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points

import pytest
from dvc.cli.parser import get_main_parser

from ml_gitops.cli.main import build_parser

from ..helpers import BIN, ROOT
from .test_cli import options, walk

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
SHELL_LANGS = {"bash", "sh", "shell", "console"}
# Installed into .venv by `make install`/`make install-dev`: not on a fresh shell's PATH.
VENV_TOOLS = {"ml-gitops", "dvc", "gto", "pytest", "cml", "ruff", "mkdocs", "pre-commit", "lint-imports", "zizmor"}
# What the docs expect a machine to have already (or say how to get); not the project's to install.
SYSTEM = {"git", "gh", "curl", "docker", "cd", "export", "apt-get", "npm", "python3", "pipx", "uvx", "uv", "make"}
NEEDS_INSTALL_LINE = {"cookiecutter", "cruft"}
SEPARATORS = {"&&", "||", ";", "|", "&", "(", ")", "$(", "`"}
PLACEHOLDER = re.compile(r"<([A-Za-z][\w-]*)>")
FENCE = re.compile(r"^[ \t]*```(\w*)[^\n]*\n(.*?)^[ \t]*```[ \t]*$", re.M | re.S)
INLINE = re.compile(r"`([^`\n]+)`")
# Inline code that is a command (not a file name such as dvc.lock or an error message).
INLINE_START = re.compile(r"^(make|ml-gitops|dvc|uv run|python|\.venv/bin/\S+)( |$)")


@dataclass(frozen=True)
class Command:
    """One simple command from the docs: its words, where it is, and whether it is a line to paste."""

    where: str
    words: tuple[str, ...]
    pasted: bool

    def __str__(self) -> str:
        return f"{self.where}: `{' '.join(self.words)}`"


def _words(line: str) -> list[list[str]]:
    """Split a shell line into simple commands (operators and `$(` separate them), placeholders made words."""
    lex = shlex.shlex(PLACEHOLDER.sub(lambda m: m.group(1).upper(), line), posix=True, punctuation_chars=True)
    lex.whitespace_split = True
    commands: list[list[str]] = [[]]
    for token in lex:
        if token in SEPARATORS:
            commands.append([])
        elif token.endswith("$") and "=" in token:  # VAR=$( ... ): the substitution is a command of its own
            commands[-1].append(token[:-1])
            commands.append([])
        else:
            commands[-1].append(token)
    # Leading VAR=value words are the command's environment, not the command.
    return [c[next((i for i, w in enumerate(c) if not _is_assignment(w)), len(c)) :] for c in commands if c]


def _is_assignment(word: str) -> bool:
    return bool(re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", word))


def _logical_lines(body: str, lang: str) -> list[tuple[int, str]]:
    """(offset, line) with `\\` continuations and multi-line quotes joined; console keeps `$ ` lines only."""
    out: list[tuple[int, str]] = []
    pending, start = "", 0
    for i, raw in enumerate(body.splitlines()):
        line = raw.strip()
        if not pending:
            start = i
            if lang == "console":
                if not line.startswith("$ "):
                    continue
                line = line[2:]
            elif line.startswith("$ "):
                line = line[2:]
        joined = f"{pending}\n{line}" if pending else line
        if joined.endswith("\\"):
            pending = joined[:-1]
            continue
        try:
            shlex.split(joined, comments=True)
        except ValueError:  # an open quote: the string goes on on the next line
            pending = joined
            continue
        pending = ""
        out.append((start, joined))
    return out


def _command_comment(line: str) -> str | None:
    """The command in a comment-only line such as `#   cd x && git init`, else None (a prose comment)."""
    text = line.lstrip("#").strip()
    first = text.split(" ", 1)[0]
    if first in VENV_TOOLS | SYSTEM | NEEDS_INSTALL_LINE or first.startswith(".venv/bin/"):
        return text
    return None


def _trailing_equivalent(line: str) -> str | None:
    """`cmd   # = other cmd`: the command a trailing comment says this one equals."""
    lex = shlex.shlex(line, posix=True)
    lex.whitespace_split, lex.commenters = True, ""
    try:
        words = list(lex)
    except ValueError:
        return None
    if "#" in words and words[words.index("#") + 1 : words.index("#") + 2] == ["="]:
        return line[line.index("# =") + 3 :].strip()
    return None


@cache
def extract() -> tuple[Command, ...]:
    found: list[Command] = []
    for doc in DOCS:
        text = doc.read_text()
        rel = doc.relative_to(ROOT)
        fenced_spans = []
        for fence in FENCE.finditer(text):
            fenced_spans.append(fence.span())
            lang = fence.group(1).lower()
            if lang not in SHELL_LANGS:
                continue
            first_line = text.count("\n", 0, fence.start(2)) + 1
            for offset, line in _logical_lines(fence.group(2), lang):
                where = f"{rel}:{first_line + offset}"
                if line.startswith("#"):
                    command = _command_comment(line)
                    found += [Command(where, tuple(w), True) for w in _words(command)] if command else []
                    continue
                found += [Command(where, tuple(w), True) for w in _words(line)]
                if equivalent := _trailing_equivalent(line):
                    found += [Command(where, tuple(w), False) for w in _words(equivalent)]
        for span in INLINE.finditer(text):
            code = span.group(1).strip()
            if any(a <= span.start() < b for a, b in fenced_spans) or not INLINE_START.match(code) or "error:" in code:
                continue
            # Optional parts ([--flag]) and elisions (...) are part of the prose, not of the command.
            code = code.replace("[", "").replace("]", "").replace("...", "")
            where = f"{rel}:{text.count(chr(10), 0, span.start()) + 1}"
            found += [Command(where, tuple(w), False) for w in _words(code.replace("|", "\\|")) if w]
    return tuple(found)


# --- make ----------------------------------------------------------------------------------------

MAKEFILE = (ROOT / "Makefile").read_text()
VAR_REF = re.compile(r"\$[({]([A-Za-z_][A-Za-z0-9_]*)|\$\$\{?([A-Za-z_][A-Za-z0-9_]*)")
# Read by every target (through the venv and uv prerequisites), so any may be set on the command line.
GLOBAL_VARS = {"PYTHON", "VENV", "UV", "UV_VERSION"}


@cache
def make_targets() -> frozenset[str]:
    """The targets make itself knows (`make -pq`), so included files and patterns count too."""
    db = subprocess.run(["make", "-pRrq", "-f", "Makefile", ":"], cwd=ROOT, capture_output=True, text=True).stdout
    targets, skip = set(), False
    for line in db.splitlines():
        if line.startswith("# Not a target"):
            skip = True
            continue
        m = re.match(r"^([A-Za-z0-9][^$#\t=:]*):(?!=)", line)
        if m and not skip:
            targets.update(m.group(1).split())
        skip = False
    return frozenset(targets)


@cache
def _rules() -> tuple[dict[str, str], dict[str, str]]:
    """(target -> its rule line and recipe, variable -> its definition) from the Makefile's text."""
    recipes: dict[str, str] = {}
    defs: dict[str, str] = {}
    current: list[str] = []
    for line in MAKEFILE.splitlines():
        if line.startswith("\t"):
            for target in current:
                recipes[target] += "\n" + line
            continue
        if m := re.match(r"^([A-Za-z_][A-Za-z0-9_]*)\s*(?:export\s+)?[:?+]?=\s*(.*)$", line.removeprefix("export ")):
            defs[m.group(1)] = m.group(2)
            current = []
        elif (m := re.match(r"^([^\s#=][^=:]*):(?!=)(.*)$", line)) and not line.startswith("."):
            current = m.group(1).split()
            for target in current:
                recipes[target] = m.group(2)
        elif line and not line.startswith("#"):
            current = []
    return recipes, defs


def variables_read_by(target: str) -> set[str]:
    """Variables `target`'s recipe reads, through variable definitions and `$(MAKE) other-target`."""
    recipes, defs = _rules()
    seen_targets, names, todo = set(), set(GLOBAL_VARS), [recipes.get(target, "")]
    while todo:
        text = todo.pop()
        for m in VAR_REF.finditer(text):
            name = m.group(1) or m.group(2)
            if name not in names:
                names.add(name)
                todo.append(defs.get(name, ""))
        for sub in re.findall(r"\$\(MAKE\)[^\n]*", text):
            for word in sub.split()[1:]:
                if word in recipes and word not in seen_targets:
                    seen_targets.add(word)
                    todo.append(recipes[word])
    return names


def check_make(args: tuple[str, ...]) -> list[str]:
    problems, targets, assigned = [], [], []
    words = iter(args)
    for word in words:
        if word in ("-C", "-f", "-o", "-W"):
            next(words, None)
        elif word.startswith("-"):
            continue
        elif _is_assignment(word):
            assigned.append(word.split("=", 1)[0])
        else:
            targets.append(word)
    problems += [f"no make target {t!r}" for t in targets if t not in make_targets()]
    read = set().union(*(variables_read_by(t) for t in targets or ["help"]))
    problems += [f"make {' '.join(targets)} does not read {v}" for v in assigned if v not in read]
    return problems


# --- argparse CLIs -------------------------------------------------------------------------------


@cache
def parsers() -> dict[str, argparse.ArgumentParser]:
    return {"ml-gitops": build_parser(), "dvc": get_main_parser()}


@cache
def cli_tree(tool: str) -> dict[tuple[str, ...], argparse.ArgumentParser]:
    """(subcommand path) -> its parser, from the CLI test's walk (its names start with our PROG)."""
    return {tuple(name.split()[1:]): parser for name, parser in walk(parsers()[tool])}


def check_cli(tool: str, args: tuple[str, ...]) -> list[str]:
    """Follow subcommands; every option must be one the parser it reaches accepts."""
    tree, path, words = cli_tree(tool), (), list(args)
    while words:
        word = words.pop(0)
        name = " ".join((tool, *path))
        if word == "--":
            break
        if word.startswith("-"):
            flag = word.split("=", 1)[0]
            action = next((a for a in options(tree[path]) if flag in a.option_strings), None)
            if action is None and flag not in ("-h", "--help"):
                return [f"{name} has no option {flag}"]
            if action is not None and action.nargs != 0 and "=" not in word and words:
                words.pop(0)
            continue
        children = [p[-1] for p in tree if len(p) == len(path) + 1 and p[:-1] == path]
        if not children:
            continue  # a positional argument
        alternatives = word.split("|")  # inline prose: `ml-gitops release build|verify`
        if missing := [w for w in alternatives if w not in children]:
            return [f"{name} has no subcommand {missing[0]!r} (it has: {', '.join(children)})"]
        if len(alternatives) > 1:
            return []
        path = (*path, word)
    return []


# --- one command ---------------------------------------------------------------------------------


def installed_by(doc: str, tool: str) -> bool:
    """The page tells people how to get ``tool`` (pipx install, uv tool install, uvx)."""
    text = (ROOT / doc).read_text()
    return bool(re.search(rf"(pipx install|uv tool install)[^\n]*\b{tool}\b|uvx {tool}\b", text))


@cache
def console_scripts() -> frozenset[str]:
    """Scripts the installed distributions declare: what `make install` puts in .venv/bin/."""
    return frozenset(ep.name for ep in entry_points(group="console_scripts"))


def is_installed(tool: str) -> bool:
    """In this venv's bin/, or declared by an installed package (a baked project's test venv has no dvc script)."""
    return (BIN / tool).exists() or tool in console_scripts()


def problems_of(cmd: Command) -> list[str]:
    first, rest = cmd.words[0], cmd.words[1:]
    tool = None
    if first.startswith(".venv/bin/"):
        tool = first.removeprefix(".venv/bin/")
    elif first == "uv" and rest[:1] == ("run",):
        args = list(rest[1:])
        while args and args[0].startswith("-"):  # uv run [--frozen ...] tool args
            args.pop(0)
        tool, rest = (args[0], tuple(args[1:])) if args else (None, ())
        if tool is None:
            return ["`uv run` with no command"]
    if tool is not None:
        if not is_installed(tool):
            return [f".venv/bin/{tool} is not installed by the project"]
        first = tool
    elif first == "python":
        return ["bare `python`: a fresh shell's python (if any) lacks the project's packages; write .venv/bin/python"]
    elif first in VENV_TOOLS and cmd.pasted:
        fix = f"write .venv/bin/{first}, uv run {first} or a make target"
        return [f"bare `{first}` is not on PATH in a fresh shell: {fix}"]
    elif first in NEEDS_INSTALL_LINE and not installed_by(cmd.where.split(":")[0], first):
        return [f"`{first}` is not installed by the project and the page does not say how to get it"]
    elif first not in VENV_TOOLS | SYSTEM | NEEDS_INSTALL_LINE:
        return [f"unknown command `{first}` (not make, .venv/bin/..., uv run or a known system tool)"]
    if first == "make":
        return check_make(rest)
    if first in parsers():
        return check_cli(first, rest)
    if first == "python" and rest and rest[0].endswith(".py") and not (ROOT / rest[0]).is_file():
        return [f"no script {rest[0]}"]
    return []


def test_the_extraction_finds_the_readme_commands() -> None:
    """The parser sees what a reader sees: the quickstart, a commented-out step, a joined multi-line curl."""
    found = {(c.where.split(":")[0], " ".join(c.words), c.pasted) for c in extract()}
    # The commented-out `git init` is in the template-only part of README (a baked project drops it).
    template_only = ("git init -b main",) if (ROOT / "cookiecutter.json").exists() else ()
    for words in ("make run", "make test", "make test-all", "make params", *template_only):
        assert any(doc == "README.md" and w == words for doc, w, _ in found), words
    assert ("README.md", "make schema DATA=data/raw/my_data.csv TARGET=label", False) in found
    curls = [c for c in extract() if c.words[0] == "curl" and "/feedback" in " ".join(c.words)]
    assert curls and any(w.startswith("authorization: Bearer") for w in curls[0].words), curls
    assert len(extract()) > 200


def test_the_checks_refuse_what_a_fresh_shell_refuses() -> None:
    """Each rule can fail: these are the mistakes the docs had or could have."""
    bad = {
        "dvc push": "bare `dvc`",
        "ml-gitops sweep run": "bare `ml-gitops`",
        "python benchmarks/serve.py": "bare `python`",
        "make nope": "no make target 'nope'",
        "make serve DATA=x.csv": "does not read DATA",
        ".venv/bin/nope": "not installed",
        ".venv/bin/ml-gitops registry promote --nope": "has no option --nope",
        ".venv/bin/ml-gitops promote": "no subcommand 'promote'",
        "uv run dvc exp run --nope": "dvc exp run has no option --nope",
        ".venv/bin/python benchmarks/nope.py --runs 3": "no script benchmarks/nope.py",
        "cd x && git init -b main; frobnicate": "unknown command",
    }
    for line, reason in bad.items():
        found = [p for words in _words(line) for p in problems_of(Command("README.md:1", tuple(words), True))]
        assert any(reason in p for p in found), (line, found)
    good = [
        "make serve BUNDLE=dist/model-v1.0.0 PORT=8123",
        "make pr BASE=v1.2",  # read by a target pr runs through $(MAKE)
        "make assign STAGE=prod VERSION=v0.2.0 UNASSIGN=1 REGISTRY_PUSH=0",  # through a variable's definition
        "uv run dvc remote modify --local storage access_key_id KEY",
        ".venv/bin/ml-gitops -v sweep run --launcher slurm model=a,b",
    ]
    for line in good:
        (words,) = _words(line)
        assert problems_of(Command("README.md:1", tuple(words), True)) == [], line


def test_the_cli_tree_is_the_cli_tests_walk() -> None:
    """Subcommands come from the same walk as tests/unit/test_cli.py, so a new command is seen by both."""
    assert {("registry", "promote"), ("sweep", "run"), ("monitor", "prune")} <= set(cli_tree("ml-gitops"))
    assert {("exp", "run"), ("remote", "modify"), ("queue", "status")} <= set(cli_tree("dvc"))


@pytest.mark.parametrize("doc", [d.relative_to(ROOT).as_posix() for d in DOCS])
def test_every_documented_command_works_from_a_fresh_shell(doc: str) -> None:
    found = [f"{c}: {p}" for c in extract() if c.where.startswith(f"{doc}:") for p in problems_of(c)]
    assert not found, "commands that do not work as written:\n" + "\n".join(found)


@pytest.mark.parametrize("doc", ["README.md", "docs/index.md"])
def test_the_front_pages_say_how_venv_tools_run(doc: str) -> None:
    """Inline mentions such as `dvc add` stand for `.venv/bin/dvc add`: the first page people read says so."""
    text = " ".join((ROOT / doc).read_text().split())
    assert "Nothing activates `.venv`" in text and "`.venv/bin/dvc` or `uv run dvc`" in text
