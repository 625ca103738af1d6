"""Scaffolding logic for the cookiecutter hooks, importable and unit-tested.

The repository root is the template (DESIGN.md §1): the post-generation hook copies the
root's own files into the new project and renames the project's identity in them.
Hook scripts are Jinja-rendered by cookiecutter, so they stay tiny and call this module.
"""

from __future__ import annotations

import argparse
import json
import keyword
import logging
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cookiecutter.exceptions import CookiecutterException, FailedHookException
from cookiecutter.generate import generate_context
from cookiecutter.main import cookiecutter
from cookiecutter.prompt import prompt_for_config

# Files that make the root a template; they never reach a generated project.
SHIM = ("cookiecutter.json", "hooks/", "{{cookiecutter.project_slug}}/", "tests/scaffold/")
# The file cookiecutter renders into the (otherwise empty) project folder; removed after the copy.
PLACEHOLDER = ".template-placeholder"
KEEP_REMOTE = "local"
SLUG_RE = re.compile(r"^[a-z][a-z0-9-]*$")
EMAIL_RE = re.compile(r"^[^@\s\"'\\]+@[^@\s\"'\\]+\.[^@\s\"'\\]+$")
# project_name lands in Python strings and YAML unescaped: these characters are refused there.
UNSAFE_NAME = ('"', "\\")
# Jinja syntax: cookiecutter renders answers, and `cruft update` re-renders the stored ones.
JINJA_TOKENS = ("{{", "}}", "{%", "%}", "{#", "#}")
# Module names that sys.stdlib_module_names omits but a package must not take either.
RESERVED_MODULES = {"test", "tests"}
# Locked distributions whose top-level modules are not the default name ('-' -> '_').
# tests/scaffold/test_lib.py checks this against the wheels' metadata of the locked environment.
IMPORT_NAMES = {
    "antlr4-python3-runtime": ("antlr4",),
    "atpublic": ("public",),
    "attrs": ("attr", "attrs"),
    "cfn-lint": ("cfnlint",),
    "configobj": ("configobj", "validate"),
    "flufl-lock": ("flufl",),
    "fonttools": ("fonttools",),
    "gitpython": ("git",),
    "graphql-core": ("graphql",),
    "hydra-core": ("hydra",),
    "hydra-joblib-launcher": ("hydra_plugins",),
    "hydra-submitit-launcher": ("hydra_plugins",),
    "import-linter": ("importlinter",),
    "jsonpatch": ("jsonpatch", "jsonpatch_cli"),
    "markdown-it-py": ("markdown_it",),
    "matplotlib": ("matplotlib", "mpl_toolkits", "pylab"),
    "mkdocs-material": ("material",),
    "mkdocs-material-extensions": ("materialx",),
    "omegaconf": ("omegaconf", "pydevd_plugins"),
    "opentelemetry-api": ("opentelemetry",),
    "pillow": ("pil",),
    "protobuf": ("google",),
    "pymdown-extensions": ("pymdownx",),
    "pytest": ("pytest", "py"),
    "pytest-xdist": ("xdist",),
    "python-dateutil": ("dateutil",),
    "python-dotenv": ("dotenv",),
    "python-slugify": ("slugify",),
    "pyyaml": ("yaml",),
    "pyyaml-env-tag": ("yaml_env_tag",),
    "pywin32": ("win32", "win32api", "win32con", "win32com", "pythoncom", "pywintypes", "pythonwin"),
    "rpds-py": ("rpds",),
    "ruamel-yaml": ("ruamel",),
    "ruamel-yaml-clib": ("ruamel",),
    "scikit-learn": ("sklearn",),
    "sympy": ("sympy", "isympy"),
    "zc-lockfile": ("zc",),
}
# Markdown blocks about the template itself: dropped from a baked project, or shown only there.
TEMPLATE_ONLY = re.compile(r"^<!-- template-only -->\n.*?^<!-- /template-only -->\n", re.MULTILINE | re.DOTALL)
PROJECT_ONLY = re.compile(r"^<!-- project-only\n(.*?)^-->\n", re.MULTILINE | re.DOTALL)
TEMPLATE_ROOT = Path(__file__).resolve().parents[1]  # hooks/ sits at the template root


class ScaffoldError(Exception):
    """An answer or a template state we refuse, with a one-line message naming it."""


@dataclass(frozen=True)
class Identity:
    """What scaffolding renames: the root's values (old) or the user's answers (new)."""

    project_name: str
    slug: str
    package: str
    description: str
    author_name: str
    author_email: str
    script: str = ""

    @property
    def console_script(self) -> str:
        return self.script or self.slug


# ---------------------------------------------------------------- validation (pre_gen)
def normalise(dist: str) -> str:
    """PEP 503 distribution name: lowercase, runs of '-', '_', '.' become '-'."""
    return re.sub(r"[-_.]+", "-", dist).lower()


def import_names(dist: str) -> tuple[str, ...]:
    dist = normalise(dist)
    return IMPORT_NAMES.get(dist, (dist.replace("-", "_"),))


def locked_distributions(root: Path) -> set[str]:
    """Every distribution of the project's dependency closure: uv.lock, plus pyproject's direct deps."""
    names: set[str] = set()
    lock = root / "uv.lock"
    if lock.is_file():
        names |= {normalise(p["name"]) for p in tomllib.loads(lock.read_text(encoding="utf-8")).get("package", [])}
    data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    reqs = list(data.get("project", {}).get("dependencies", []))
    for group in data.get("dependency-groups", {}).values():
        reqs.extend(r for r in group if isinstance(r, str))
    for r in reqs:
        m = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)", r)
        if m:
            names.add(normalise(m.group(1)))
    return names


def forbidden_modules(root: Path) -> set[str]:
    """Top-level modules of the locked closure: never the interpreter running cookiecutter."""
    own = root_identity(root)
    dists = locked_distributions(root) - {normalise(own.slug)}
    return {m.lower() for d in dists for m in import_names(d)} - {own.package}


def jinja_token(value: object) -> str | None:
    text = str(value)
    return next((t for t in JINJA_TOKENS if t in text), None)


def check_jinja(answers: Mapping[str, object]) -> None:
    for key, value in answers.items():
        token = jinja_token(value) if not str(key).startswith("_") else None
        if token:
            raise ScaffoldError(
                f"{key} {value!r} contains {token!r}: answers cannot hold Jinja syntax (cruft update would fail)"
            )


def validate(answers: Mapping[str, object], extra_forbidden: Iterable[str] = ()) -> None:
    """Refuse a bad answer with one line naming it (raises ScaffoldError)."""
    check_jinja(answers)
    slug = str(answers.get("project_slug", ""))
    package = str(answers.get("package_name", ""))
    if not SLUG_RE.match(slug):
        raise ScaffoldError(
            f"project_slug {slug!r} is invalid: use lowercase letters, digits and '-', starting with a letter"
        )
    if not package.isidentifier() or not package.isascii():
        raise ScaffoldError(f"package_name {package!r} is not a valid Python identifier")
    if keyword.iskeyword(package) or keyword.issoftkeyword(package):
        raise ScaffoldError(f"package_name {package!r} is a Python keyword")
    if package != package.lower():
        raise ScaffoldError(f"package_name {package!r} must be lowercase (PEP 8)")
    if package in sys.stdlib_module_names or package in RESERVED_MODULES:
        raise ScaffoldError(f"package_name {package!r} shadows the standard-library module {package!r}")
    if package in set(extra_forbidden):
        raise ScaffoldError(f"package_name {package!r} shadows the module {package!r} of a dependency")
    for key in ("project_name", "description", "author_name"):
        value = str(answers.get(key, ""))
        if not value.strip():
            raise ScaffoldError(f"{key} is empty")
        if any(not c.isprintable() for c in value):
            raise ScaffoldError(f"{key} {value!r} must be one line of printable text")
    name = str(answers.get("project_name", ""))
    bad = [c for c in UNSAFE_NAME if c in name]
    if bad:
        raise ScaffoldError(
            f"project_name {name!r} contains {bad[0]!r}, which Python strings and YAML in the project cannot hold"
        )
    email = str(answers.get("author_email", ""))
    if not EMAIL_RE.match(email):
        raise ScaffoldError(f"author_email {email!r} is not an e-mail address")
    url = str(answers.get("dvc_remote_url", KEEP_REMOTE)).strip()
    if not url or any(c.isspace() for c in url):
        raise ScaffoldError(f"dvc_remote_url {url!r} is invalid: give a URL/path without spaces, or 'local'")


# ---------------------------------------------------------------- the template root
def root_identity(root: Path) -> Identity:
    """The root's own identity: pyproject.toml plus the project name default in cookiecutter.json."""
    data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    project = data["project"]
    scripts = project.get("scripts", {})
    if len(scripts) != 1:
        raise ScaffoldError(f"{root / 'pyproject.toml'}: expected exactly one [project.scripts] entry")
    script, target = next(iter(scripts.items()))
    package = target.split(":")[0].split(".")[0]
    author = (project.get("authors") or [{}])[0]
    name = json.loads((root / "cookiecutter.json").read_text(encoding="utf-8"))["project_name"]
    return Identity(
        project_name=name,
        slug=project["name"],
        package=package,
        description=project.get("description", ""),
        author_name=author.get("name", ""),
        author_email=author.get("email", ""),
        script=script,
    )


def answers_identity(answers: Mapping[str, object]) -> Identity:
    return Identity(
        project_name=str(answers["project_name"]),
        slug=str(answers["project_slug"]),
        package=str(answers["package_name"]),
        description=str(answers["description"]),
        author_name=str(answers["author_name"]),
        author_email=str(answers["author_email"]),
    )


def is_shim(rel: str) -> bool:
    return any(rel == s or (s.endswith("/") and rel.startswith(s)) for s in SHIM)


def source_files(root: Path) -> list[str]:
    """What a clean clone of the root holds (tracked + untracked-not-ignored), minus the shim.

    Ignored files (caches, .venv, the DVC cache, pipeline outputs) are never listed by git.
    """
    proc = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise ScaffoldError(f"template {root} is not a git checkout: {proc.stderr.strip() or 'git ls-files failed'}")
    rels = {f for f in proc.stdout.split("\0") if f}
    return sorted(r for r in rels if not is_shim(r) and ((root / r).is_file() or (root / r).is_symlink()))


# ---------------------------------------------------------------- renaming (post_gen)
def replacements(old: Identity, new: Identity) -> dict[str, str]:
    """Old string -> new string. Applied in one pass, longest first, so nothing is renamed twice."""
    pairs = {
        old.description: new.description,
        old.author_name: new.author_name,
        old.author_email: new.author_email,
        old.project_name: new.project_name,
        old.package: new.package,
        old.package.upper(): new.package.upper(),
        old.slug: new.slug,
        old.console_script: new.console_script,
    }
    return {k: v for k, v in pairs.items() if k and k != v}


def make_renamer(mapping: Mapping[str, str]):
    if not mapping:
        return lambda s: s
    pattern = re.compile("|".join(re.escape(k) for k in sorted(mapping, key=len, reverse=True)))
    return lambda s: pattern.sub(lambda m: mapping[m.group(0)], s)


def set_remote_url(config: str, url: str) -> str:
    """Point the default DVC remote (core.remote) at url in .dvc/config text; other lines untouched."""
    m = re.search(r"^\s*remote\s*=\s*(\S+)\s*$", config, flags=re.MULTILINE)
    if not m:
        raise ScaffoldError(".dvc/config has no core.remote to point at the new URL")
    name = re.escape(m.group(1))
    section = re.compile(
        rf"(^\[\s*'?remote \"{name}\"'?\s*\][^\[]*?^\s*url\s*=\s*)(\S[^\n]*)$", flags=re.MULTILINE | re.DOTALL
    )
    new, n = section.subn(lambda mm: mm.group(1) + url, config, count=1)
    if n != 1:
        raise ScaffoldError(f".dvc/config: no url for the default remote {m.group(1)!r}")
    return new


def copy_renamed(
    root: Path, dest: Path, old: Identity, new: Identity, files: Iterable[str] | None = None
) -> tuple[list[str], set[str]]:
    """Copy the root's files into dest, renaming paths and UTF-8 text; binary files byte for byte.

    Returns (written paths, paths whose content the renaming changed).
    """
    rename = make_renamer(replacements(old, new))
    rename_toml = make_renamer(replacements(old, toml_escaped(new)))
    written: list[str] = []
    changed: set[str] = set()
    for rel in files if files is not None else source_files(root):
        src = root / rel
        out_rel = rename(rel)
        target = dest / out_rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            target.symlink_to(rename(str(src.readlink())))
        else:
            data = src.read_bytes()
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                text = None
            if text is not None and "\0" not in text:
                renamed = (rename_toml if rel.endswith(".toml") else rename)(project_text(rel, text)).encode("utf-8")
                if renamed != data:
                    changed.add(out_rel)
                data = renamed
            target.write_bytes(data)
            shutil.copymode(src, target)
        written.append(out_rel)
    return written, changed


def toml_escaped(new: Identity) -> Identity:
    """The free-text answers as they sit inside TOML basic strings ("..."): quotes and backslashes escaped."""

    def esc(value: str) -> str:
        return value.replace("\\", "\\\\").replace('"', '\\"')

    return Identity(
        new.project_name,
        new.slug,
        new.package,
        esc(new.description),
        esc(new.author_name),
        new.author_email,
        new.script,
    )


def project_text(rel: str, text: str) -> str:
    """A Markdown file as the baked project shows it: template-only blocks dropped, project-only shown."""
    if not rel.endswith(".md"):
        return text
    text = PROJECT_ONLY.sub(lambda m: m.group(1), TEMPLATE_ONLY.sub("", text))
    if "<!-- template-only -->" in text or "<!-- /template-only -->" in text or "<!-- project-only" in text:
        raise ScaffoldError(f"{rel}: unbalanced template-only/project-only markers (each on its own line)")
    return text


LOCK_CMD = re.compile(r"^(\s*)cmd: (?![>|'\"])(.*)$")
LOCK_WIDTH = 80  # DVC writes dvc.lock with ruamel.yaml's default line width


def refold_lock_cmds(text: str) -> str:
    """Re-wrap dvc.lock's plain `cmd:` scalars the way DVC writes them.

    A renamed console script changes the command's length, so DVC would fold its lines elsewhere
    and rewrite dvc.lock on the first `dvc repro`. ruamel breaks before the word that would pass
    column 80 and leaves the space at the end of the line. Identity on a lock DVC wrote.
    """
    lines, out, i = text.split("\n"), [], 0
    while i < len(lines):
        m = LOCK_CMD.match(lines[i])
        i += 1
        if not m:
            out.append(lines[i - 1])
            continue
        indent, parts = m.group(1), [m.group(2)]
        while i < len(lines) and lines[i].startswith(indent + " "):
            parts.append(lines[i])
            i += 1
        words = " ".join(p.strip() for p in parts).split(" ")
        line = f"{indent}cmd: {words[0]}"
        for word in words[1:]:
            if len(line) + 1 + len(word) > LOCK_WIDTH:
                out.append(line + " ")
                line = f"{indent}  {word}"
            else:
                line += " " + word
        out.append(line)
    return "\n".join(out)


LOCK_ENTRY = re.compile(r"(- path: (\S+)\n\s+hash: md5\n\s+md5: )([0-9a-f]{32})(\n\s+size: )(\d+)")


def refresh_lock(lock_text: str, dest: Path, changed: set[str]) -> str:
    """Update dvc.lock's md5/size of files the renaming changed, so the first commit is not stale.

    DVC 3 hashes a file's raw bytes (md5); directory entries (.dir) are left alone.
    """
    import hashlib

    def fix(m: re.Match[str]) -> str:
        path = m.group(2)
        if path not in changed or not (dest / path).is_file():
            return m.group(0)
        data = (dest / path).read_bytes()
        return f"{m.group(1)}{hashlib.md5(data).hexdigest()}{m.group(4)}{len(data)}"  # noqa: S324 (DVC's hash)

    return LOCK_ENTRY.sub(fix, lock_text)


def git_identity_missing(dest: Path, key: str) -> bool:
    env_var = {"user.name": "GIT_AUTHOR_NAME", "user.email": "GIT_AUTHOR_EMAIL"}[key]
    proc = subprocess.run(["git", "config", "--get", key], cwd=dest, capture_output=True, text=True, check=False)
    return not proc.stdout.strip() and not os.environ.get(env_var)


def init_git(dest: Path, new: Identity) -> None:
    """git init -b main + first commit; the answers are the author only when git has no identity."""
    fallback = {"user.name": new.author_name, "user.email": new.author_email}
    subprocess.run(["git", "init", "--quiet", "-b", "main"], cwd=dest, capture_output=True, check=False)
    config = [f"-c{k}={v}" for k, v in fallback.items() if git_identity_missing(dest, k)]
    for cmd in (
        ["git", "add", "--all"],
        ["git", *config, "commit", "--quiet", "-m", f"Start {new.project_name} from the ML GitOps template"],
    ):
        proc = subprocess.run(cmd, cwd=dest, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise ScaffoldError(f"{' '.join(cmd)} failed: {proc.stderr.strip()}")


def render(context: Mapping[str, object], dest: Path, root: Path) -> list[str]:
    """The whole post-generation step; returns the written paths."""
    old, new = root_identity(root), answers_identity(context)
    (dest / PLACEHOLDER).unlink(missing_ok=True)
    written, changed = copy_renamed(root, dest, old, new)
    lock = dest / "dvc.lock"
    if "dvc.lock" in changed and lock.is_file():
        text = refold_lock_cmds(refresh_lock(lock.read_bytes().decode("utf-8"), dest, changed))
        lock.write_bytes(text.encode("utf-8"))
    if "params.yaml" in changed or any(c.startswith("conf/") for c in changed):
        restamp_params(dest, new.package)
    url = str(context.get("dvc_remote_url", KEEP_REMOTE)).strip()
    cfg = dest / ".dvc" / "config"
    if url != KEEP_REMOTE and cfg.is_file():
        cfg.write_bytes(set_remote_url(cfg.read_bytes().decode("utf-8"), url).encode("utf-8"))
    return written


def restamp_params(dest: Path, package: str) -> None:
    """Re-write params.yaml's `make params` stamp line for the renamed conf/ and text.

    The renaming changes the same strings in conf/ and params.yaml, so the composition still
    holds; only the two hashes the stages check are stale. The baked package's own stamp
    module computes them (standard library only, so cookiecutter's interpreter can run it).
    """
    import importlib
    import sys

    params = dest / "params.yaml"
    if not params.is_file():
        return
    sys.path.insert(0, str(dest / "src"))
    try:
        stamp = importlib.import_module(f"{package}.config.stamp")
    finally:
        sys.path.remove(str(dest / "src"))
    text = params.read_bytes().decode("utf-8")
    body = "".join(line for line in text.splitlines(keepends=True) if not line.startswith(stamp.PREFIX))
    params.write_bytes(stamp.stamped(body, dest / "conf").encode("utf-8"))


def wants_git(context: Mapping[str, object]) -> bool:
    value = context.get("init_git", True)
    return value is True or str(value).strip().lower() in {"y", "yes", "true", "1"}


def next_steps(dest: Path) -> str:
    return (
        f"\nCreated {dest}. Next:\n"
        f"  cd {dest.name}\n"
        "  make run    # install + run the pipeline, print the metrics\n"
        "  make test   # run the test suite\n"
    )


def hook_main(stage: str, context: Mapping[str, object], root: Path) -> int:
    """Entry point for both hooks: one clear line and a non-zero exit on any refusal.

    Without _repo_dir we run under cruft, which also generates into temp dirs to diff template
    versions: no git init there (cruft writes .cruft.json after the hook anyway).
    """
    try:
        if stage == "pre":
            validate(context, forbidden_modules(root))
            return 0
        dest = Path.cwd()
        render(context, dest, root)
        if wants_git(context) and context.get("_repo_dir"):
            init_git(dest, answers_identity(context))
        print(next_steps(dest))
        return 0
    except ScaffoldError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


# ---------------------------------------------------------------- `make new`: check, then bake
def answers_from(root: Path, given: Mapping[str, str]) -> dict[str, object]:
    """The full answers cookiecutter would use with --no-input: defaults rendered around the given ones."""
    check_jinja(given)  # before cookiecutter renders them: its own error names no field
    known = json.loads((root / "cookiecutter.json").read_text(encoding="utf-8"))
    unknown = sorted(k for k in given if k not in known or k.startswith("_"))
    if unknown:
        public = ", ".join(k for k in known if not k.startswith("_"))
        raise ScaffoldError(f"unknown answer {unknown[0]!r}: the answers are {public}")
    try:
        context = generate_context(str(root / "cookiecutter.json"), extra_context=dict(given))
    except ValueError as exc:  # e.g. init_git=maybe
        raise ScaffoldError(str(exc)) from exc
    return dict(prompt_for_config(context, no_input=True))


def parse_answers(pairs: Iterable[str]) -> dict[str, str]:
    answers = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ScaffoldError(f"answer {pair!r} is not key=value")
        answers[key] = value
    return answers


def validate_answers_cli(argv: list[str], root: Path = TEMPLATE_ROOT) -> int:
    """Check key=value answers as cookiecutter would receive them: 0, or 2 with one line."""
    try:
        answers = answers_from(root, parse_answers(argv))
        validate(answers, forbidden_modules(root))
    except ScaffoldError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    """`make new ARGS='key=value ...'`: refuse bad answers in one line, then bake with cookiecutter."""
    parser = argparse.ArgumentParser(prog="new", description=main.__doc__)
    parser.add_argument("answers", nargs="*", help="key=value answers (keys: cookiecutter.json)")
    parser.add_argument("-o", "--output-dir", default="..", help="where the project folder is created")
    parser.add_argument("--template", default=str(TEMPLATE_ROOT), help="template path/URL")
    args = parser.parse_args(argv)
    status = validate_answers_cli(args.answers)
    if status:
        return status
    # The hooks print their own one-line refusal; cookiecutter's logged traceback would only repeat it.
    logging.getLogger("cookiecutter").addHandler(logging.NullHandler())
    try:
        cookiecutter(
            args.template, no_input=True, extra_context=parse_answers(args.answers), output_dir=args.output_dir
        )
    except FailedHookException:
        return 1
    except CookiecutterException as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
