"""The command line as people meet it: every command and option explains itself, `--version` answers."""

from __future__ import annotations

import argparse
import subprocess
import tomllib
from collections.abc import Iterator

import pytest

from ml_gitops.cli.main import PROG, build_parser, main

from ..helpers import BIN, ROOT


def walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """(`ml-gitops registry promote`, its parser) for the root and every subcommand, depth first."""
    yield " ".join((PROG, *path)), parser
    for action in parser._actions:  # argparse has no public way to list a parser's arguments
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from walk(child, (*path, name))


def subcommands(parser: argparse.ArgumentParser) -> Iterator[tuple[str, str | None]]:
    """(name, help) of each subcommand of ``parser``."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name in action.choices:
                yield name, helps.get(name)


def options(parser: argparse.ArgumentParser) -> Iterator[argparse.Action]:
    """Every option and positional argument except -h and the subcommand slot."""
    for action in parser._actions:
        if not isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
            yield action


def rendered(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    """The option's entry exactly as `--help` prints it."""
    formatter = parser.formatter_class(prog=parser.prog)
    formatter.add_argument(action)
    return formatter.format_help()


PARSERS = list(walk(build_parser()))


def test_the_walk_reaches_the_nested_groups() -> None:
    names = {name for name, _ in PARSERS}
    for group, actions in {
        "registry": ("promote", "assign", "show", "plan", "resolve"),
        "release": ("build", "verify"),
        "sweep": ("run", "table", "best"),
        "monitor": ("run", "issue"),
        "template": ("check", "update"),
        "params": ("sync", "check"),
        "pr": ("report", "gate"),
    }.items():
        assert {f"{PROG} {group} {a}" for a in actions} <= names, group
    stages = ("ingest", "validate", "split", "train", "evaluate", "gate")
    assert {f"{PROG} {s}" for s in stages} <= names  # dvc.yaml calls them by these names


def test_every_subcommand_and_option_has_help_text() -> None:
    missing = []
    for where, parser in PARSERS:
        missing += [f"{where} {name}" for name, text in subcommands(parser) if not (text or "").strip()]
        for action in options(parser):
            if not (action.help or "").strip() or action.help == argparse.SUPPRESS:
                missing.append(f"{where} {'/'.join(action.option_strings) or action.dest}")
    assert not missing, "no help text:\n" + "\n".join(missing)


def test_help_shows_the_default_of_every_option_that_has_one() -> None:
    missing = []
    for where, parser in PARSERS:
        for action in options(parser):
            has_default = action.default not in (None, False, argparse.SUPPRESS)
            if action.option_strings and has_default and "default" not in rendered(parser, action):
                missing.append(f"{where} {'/'.join(action.option_strings)} (default {action.default!r})")
    assert not missing, "default not shown:\n" + "\n".join(missing)


def test_every_help_page_renders() -> None:
    for where, parser in PARSERS:
        text = parser.format_help()
        assert text.startswith(f"usage: {where}"), where


def test_version_prints_the_installed_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert capsys.readouterr().out == f"{PROG} {declared}\n"


def test_a_user_error_is_one_line_naming_the_full_command(tmp_path) -> None:
    missing = tmp_path / "nope.tar.gz"
    proc = subprocess.run(
        [str(BIN / PROG), "release", "verify", str(missing)], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{PROG} release verify: error: "), proc.stderr
    assert "nope.tar.gz" in lines[0]


def test_an_old_command_name_is_refused_with_the_new_choices() -> None:
    proc = subprocess.run([str(BIN / PROG), "promote"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and "invalid choice: 'promote'" in proc.stderr and "registry" in proc.stderr
