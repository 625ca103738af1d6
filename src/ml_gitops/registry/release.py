"""Release bundles: one registered version's outputs, its card and lineage, with a manifest.

Everything comes from the *tagged commit*, not from the working tree: git-tracked
outputs via `git show <tag>:path`, cached ones from the DVC cache or remote, each
checked against the md5 that the tag's `dvc.lock` records. So a bundle names
exactly what the tag names, whatever is checked out.
"""

from __future__ import annotations

import json
import platform
import shutil
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from ..adapters import dvc, git
from ..adapters.io import write_json, write_text
from ..config import paths
from ..config.errors import UserError
from ..config.metric_names import LOWER_IS_BETTER, METRICS
from ..config.registry import ReleaseSettings
from ..config.settings import load_group
from .bundle import Bundle, make_archive, verify_dir, write_manifest
from .tags import DVC_LOCK, Registry, fetch_output, version_key, version_tag

# bundle name -> pipeline output; optional ones are included when the tag's dvc.lock has them.
FILES: dict[str, tuple[Path, bool]] = {
    "model.skops": (paths.MODEL, False),
    "model.onnx": (paths.ONNX, True),
    "signature.json": (paths.SIGNATURE, False),
    "training.json": (paths.TRAIN_SUMMARY, False),
    "metrics.json": (paths.METRICS, False),
    "validation.json": (paths.VALIDATION_REPORT, False),
    "slices.json": (paths.SLICES, True),  # optional: versions from before slices have none
    "effects.json": (paths.EFFECTS, True),  # partial dependence; versions from before it have none
}


@dataclass(frozen=True)
class Built:
    directory: Path
    archive: Path
    manifest: dict[str, Any]


def _json(text: str | None, what: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise UserError(f"{what}: not valid JSON ({err})") from None


def lineage(
    reg: Registry, version: str, commit: str, params_text: str, lock: dict[str, Any], cfg: ReleaseSettings
) -> dict[str, Any]:
    params = yaml.safe_load(params_text) or {}
    versions = {}
    for pkg in cfg.packages:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    source = str(((params.get("data") or {}).get("source") or {}).get("path", ""))
    outs = dvc.lock_outputs(lock)
    return {
        "artifact": reg.artifact,
        "version": version,
        "tag": version_tag(reg.artifact, version),
        "git_sha": commit,
        "data": {"source": source, "source_md5": dvc.lock_deps(lock).get(source)},
        "outputs": {p: o["md5"] for p, o in sorted(outs.items())},
        "params": {k: params[k] for k in ("data", "model", "split", "train", "evaluate", "gate") if k in params},
        "python": platform.python_version(),
        "packages": versions,
    }


def _fmt(x: Any) -> str:
    return f"{x:.4f}" if isinstance(x, int | float) else "–"


def card(
    version: str,
    previous: str | None,
    metrics: dict[str, Any],
    prev_metrics: dict[str, Any] | None,
    training: dict[str, Any],
    validation: dict[str, Any],
    lin: dict[str, Any],
    cfg: ReleaseSettings,
    slices: dict[str, Any] | None = None,
    effects: dict[str, Any] | None = None,
) -> str:
    """The model card: what it is for, what it learned from, how good it is, what changed."""
    counts = training.get("class_counts") or {}
    total = sum(counts.values()) or 1
    balance = ", ".join(f"{k} {v} ({v / total:.0%})" for k, v in counts.items())
    model = lin["params"].get("model", {})
    lines = [
        f"# Model card: {lin['artifact']} {version}",
        "",
        "## Intended use",
        "",
        cfg.intended_use.strip(),
        "",
        "## Training data",
        "",
        f"- dataset: {validation.get('dataset', '?')}, {validation.get('rows', '?')} rows validated "
        f"({validation.get('errors', '?')} errors, {validation.get('warnings', '?')} warnings)",
        f"- training rows: {training.get('rows', '?')}; class balance: {balance or '?'}",
        f"- features: {', '.join(training.get('features', []))}",
        f"- source: `{lin['data']['source']}` (md5 `{lin['data']['source_md5']}`)",
        "",
        "## Metrics (test set, 95 % bootstrap interval)",
        "",
        f"{metrics.get('n_test', '?')} test rows.",
        "",
        "| metric | value | interval |",
        "|---|---:|---|",
    ]
    for m in METRICS:
        if m in metrics:
            ci = f"[{_fmt(metrics.get(m + '_ci_low'))}, {_fmt(metrics.get(m + '_ci_high'))}]"
            lines.append(f"| {m} | {_fmt(metrics[m])} | {ci} |")
    lines += slice_table(slices)
    lines += effect_tables(effects)
    lines += ["", f"## Compared with the previous version ({previous or 'none'})", ""]
    if previous and prev_metrics:
        lines += [f"| metric | {version} | {previous} | delta |", "|---|---:|---:|---:|"]
        for m in METRICS:
            if m in metrics and m in prev_metrics:
                d = metrics[m] - prev_metrics[m]
                better = "" if d == 0 else (" (better)" if (d < 0) == (m in LOWER_IS_BETTER) else " (worse)")
                lines.append(f"| {m} | {_fmt(metrics[m])} | {_fmt(prev_metrics[m])} | {d:+.4f}{better} |")
    else:
        lines.append("First registered version: nothing to compare with.")
    lines += [
        "",
        "## Parameters",
        "",
        f"- model: `{json.dumps(model, sort_keys=True)}`",
        f"- train: `{json.dumps(lin['params'].get('train', {}), sort_keys=True)}`",
        f"- split: `{json.dumps(lin['params'].get('split', {}), sort_keys=True)}`",
        "",
        "## Lineage",
        "",
        f"- tag `{lin['tag']}` at commit `{lin['git_sha']}`",
        *(f"- `{p}`: md5 `{h}`" for p, h in lin["outputs"].items() if p.startswith("models/")),
        f"- built with Python {lin['python']}; " + ", ".join(f"{k} {v}" for k, v in lin["packages"].items()),
        "- full lineage (every output hash, all params): `lineage.json`",
        "",
        "## Known limitations",
        "",
        *([f"- {x}" for x in cfg.known_limitations] or ["- none recorded"]),
        "",
    ]
    return "\n".join(lines)


def slice_table(slices: dict[str, Any] | None) -> list[str]:
    """The card's per-slice table (reports/slices.json): rows, each metric with its interval, worst slice."""
    if not slices:
        return []
    names = list(slices["metrics"])
    lines = ["", "## Metrics per slice", "", "| slice | rows | " + " | ".join(names) + " |"]
    lines.append("|---|---:|" + "---|" * len(names))
    for s in slices["slices"]:
        cells = [
            f"{_fmt(m['value'])} [{_fmt(m['ci_low'])}, {_fmt(m['ci_high'])}]" for m in (s["metrics"][n] for n in names)
        ]
        small = "" if s["judged"] else " (small, not judged)"
        lines.append(f"| {s['name']}{small} | {s['rows']} | " + " | ".join(cells) + " |")
    worst = (slices.get("worst") or {}).get(names[0])
    if worst:
        lines += ["", f"Worst judged slice by {names[0]}: {worst['slice']} ({_fmt(worst['value'])})."]
    return lines


def effect_tables(effects: dict[str, Any] | None) -> list[str]:
    """The card's partial dependence (reports/effects.json): per top feature, the mean answer at each grid value."""
    if not effects or not effects.get("features"):
        return []
    lines = [
        "",
        "## Effect of the top features (partial dependence)",
        "",
        f"The mean prediction when every one of {effects['rows']} test rows gets the feature's value "
        "(the others unchanged); features ranked by permutation importance.",
    ]
    for f in effects["features"]:
        outputs = list(f["mean"])
        lines += ["", f"### {f['feature']} (importance {_fmt(f['importance'])})", ""]
        lines += [f"| {f['feature']} | " + " | ".join(outputs) + " |", "|---|" + "---:|" * len(outputs)]
        for i, value in enumerate(f["grid"]):
            cell = _fmt(value) if isinstance(value, int | float) else str(value)
            lines.append(f"| {cell} | " + " | ".join(_fmt(f["mean"][o][i]) for o in outputs) + " |")
    return lines


def _optional_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _replace_dir(src: Path, dest: Path) -> None:
    """Swap a finished directory into place (the old one is removed only after)."""
    old = dest.with_name(f".{dest.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if dest.exists():
        dest.rename(old)
    src.rename(dest)
    shutil.rmtree(old, ignore_errors=True)


def build(reg: Registry, version: str, out_dir: Path | None = None) -> Built:
    """Build and verify ``dist/<artifact>-<version>/`` and its .tar.gz from the version's tag."""
    version_key(version)
    state = reg.state()
    commit = state.require(version)
    tag = version_tag(reg.artifact, version)
    root = reg.root
    lock = dvc.lock_at(tag, root)
    params_text = git.show_text(tag, paths.PARAMS, root)
    if lock is None or params_text is None:
        raise UserError(f"{tag}: the tagged commit has no readable {DVC_LOCK} or no {paths.PARAMS}")
    try:
        cfg = load_group(ReleaseSettings, "release", f"{tag}:{paths.PARAMS}", text=params_text)
    except UserError:  # the tag predates today's release settings: use the working tree's
        cfg = load_group(ReleaseSettings, "release", root / paths.PARAMS)
    outs = dvc.lock_outputs(lock)
    dist = Path(out_dir) if out_dir else root / cfg.dist_dir
    name = f"{reg.artifact.replace('/', '-')}-{version}"
    dist.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=dist))
    try:
        for rel, (src, optional) in FILES.items():
            if src.as_posix() not in outs:
                if optional:
                    continue
                raise UserError(f"{tag}: {DVC_LOCK} has no output {src} (needed as {rel} in the bundle)")
            fetch_output(root, tag, src.as_posix(), work / rel, outs[src.as_posix()]["md5"])
        metrics = _json((work / "metrics.json").read_text(encoding="utf-8"), f"{tag}:{paths.METRICS}")
        previous = state.previous(version)
        prev_metrics = None
        if previous:
            prev_text = git.show_text(version_tag(reg.artifact, previous), paths.METRICS, root)
            prev_metrics = _json(prev_text, f"{previous}:{paths.METRICS}")
        lin = lineage(reg, version, commit, params_text, lock, cfg)
        write_json(work / "lineage.json", lin)
        training = json.loads((work / "training.json").read_text(encoding="utf-8"))
        validation = json.loads((work / "validation.json").read_text(encoding="utf-8"))
        slices, effects = _optional_json(work / "slices.json"), _optional_json(work / "effects.json")
        card_text = card(version, previous, metrics, prev_metrics, training, validation, lin, cfg, slices, effects)
        write_text(work / "card.md", card_text)
        manifest = write_manifest(work, {"model": reg.artifact, "version": version, "tag": tag, "git_sha": commit})
        verify_dir(work)
        final = dist / name
        _replace_dir(work, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    archive = dist / f"{name}.tar.gz"
    make_archive(final, archive)
    return Built(final, archive, manifest)


@dataclass(frozen=True)
class LineageCheck:
    """What `verify_lineage` compared the bundle's files with."""

    tag: str
    files: list[str]
    against_git: bool


def verify_lineage(bundle: Bundle, root: Path | None = None, *, require_git: bool = False) -> LineageCheck:
    """Check every pipeline file in a (manifest-verified) bundle against its lineage.

    A manifest only says the files are the ones it lists; anyone can recompute it. The lineage
    says which model the tag's commit names: each file's md5 must be the one ``lineage.json``
    records, and, when ``root`` holds the tag, the one the tag's ``dvc.lock`` names (and the tag
    must point at lineage's commit). ``require_git`` refuses a bundle whose tag ``root`` lacks.
    """
    where = bundle.root
    if not bundle.path("lineage.json").is_file():
        raise UserError(f"{where}: file lineage.json is missing (no lineage to check the model against)")
    lin = bundle.json("lineage.json")
    recorded: dict[str, str] = lin.get("outputs") or {}
    tag = str(lin.get("tag") or "")
    for key in ("tag", "version"):
        if bundle.manifest.get(key) != lin.get(key):
            raise UserError(
                f"{where}: MANIFEST.json {key} {bundle.manifest.get(key)!r} is not lineage.json's {lin.get(key)!r}"
            )
    checked = []
    for rel, (src, _optional) in FILES.items():
        if not bundle.path(rel).is_file():
            continue
        want = recorded.get(src.as_posix())
        if not want:
            raise UserError(f"{where}: lineage.json records no md5 for {src} (bundle file {rel})")
        if dvc.file_md5(bundle.path(rel)) != want:
            raise UserError(f"{where}: file {rel} is not the {src} lineage.json records (md5 {want})")
        checked.append(rel)
    commit = git.commit_of(tag, root) if root is not None and tag else None
    if commit is None:
        if require_git:
            raise UserError(f"{where}: tag {tag or '?'} is not in {root or 'any repository'}: cannot check lineage")
        return LineageCheck(tag, checked, against_git=False)
    if commit != lin.get("git_sha"):
        raise UserError(f"{where}: lineage.json git_sha {lin.get('git_sha')} is not {tag}'s commit {commit}")
    outs = dvc.lock_outputs(dvc.lock_at(tag, root))
    for rel in checked:
        src = FILES[rel][0].as_posix()
        locked = (outs.get(src) or {}).get("md5")
        if locked != recorded[src]:
            raise UserError(f"{where}: file {rel} is not the {src} that {tag}'s {DVC_LOCK} names (md5 {locked})")
    return LineageCheck(tag, checked, against_git=True)
