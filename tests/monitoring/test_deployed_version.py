"""The monitor judges the deployed version: which version, only its traffic, its own reference at its tag.

Fast: registry states are folded from tag records (no pipeline), the log is a small real
SQLite file, and the reference comes from a tiny real DVC repository with two tagged commits.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from ml_gitops.adapters import dvc
from ml_gitops.adapters.predlog import PredictionLog
from ml_gitops.config.errors import UserError
from ml_gitops.monitoring.deployed import Deployed, choose, reference_files, signature_at
from ml_gitops.monitoring.logsource import LogSource, Window
from ml_gitops.registry.tags import GitTag, build_state, version_tag

from ..helpers import run

FEATURES = {"x": {"dtype": "float"}, "c": {"dtype": "str"}}
CLASSES = ["a", "b"]
T0 = dt.datetime(2025, 1, 1)


def _state(*names: str, stages: tuple[str, ...] = ("staging", "prod")):
    """A registry state from tag names in creation order (commit = c<i>, or the version's commit)."""
    tags, commit_of = [], {}
    for i, name in enumerate(names):
        if "@" in name:
            commit_of[name.split("@")[1]] = f"c{i}"
            commit = f"c{i}"
        else:  # model#prod#3 -> the commit of the version named after the last '=' of the test's spec
            name, version = name.split("=")
            commit = commit_of[version]
        tags.append(GitTag(name, commit, i, "msg"))
    return build_state("model", tags, stages)


def tag_of(v: str) -> str:
    return version_tag("model", v)


# ------------------------------------------------------------------ which version
def test_stage_resolves_to_the_version_it_points_to() -> None:
    state = _state("model@v0.1.0", "model@v0.2.0", "model#prod#1=v0.1.0", "model#staging#2=v0.2.0")
    dep = choose(state, tag_of, "prod", None)
    assert (dep.version, dep.stage, dep.tag, dep.commit) == ("v0.1.0", "prod", "model@v0.1.0", "c0")
    assert not dep.workspace
    assert choose(state, tag_of, "staging", None).version == "v0.2.0"


def test_explicit_version_wins_and_must_be_registered() -> None:
    state = _state("model@v0.1.0", "model@v0.2.0", "model#prod#1=v0.1.0")
    assert choose(state, tag_of, "prod", "v0.2.0").version == "v0.2.0"
    with pytest.raises(UserError, match=r"model@v0\.9\.0 is not registered"):
        choose(state, tag_of, "prod", "v0.9.0")


def test_unassigned_stage_with_versions_is_a_one_line_error() -> None:
    state = _state("model@v0.1.0", "model#staging#1=v0.1.0")
    with pytest.raises(UserError) as err:
        choose(state, tag_of, "prod", None)
    msg = str(err.value)
    assert "'prod' has no version assigned" in msg and "staging=v0.1.0" in msg and "\n" not in msg


def test_nothing_registered_or_no_stage_means_the_working_tree() -> None:
    assert choose(_state(), tag_of, "prod", None).workspace
    assert "no version registered" in choose(_state(), tag_of, "prod", None).why
    assert choose(_state("model@v0.1.0", "model#prod#1=v0.1.0"), tag_of, None, None).workspace


# ------------------------------------------------------------------ only its traffic
def _log(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    log = PredictionLog(url).create()
    rows = []
    for i in range(30):
        version = "v0.1.0" if i < 20 else "v0.2.0"
        rows.append(
            {
                "id": f"{i:032x}",
                "ts": T0 + dt.timedelta(minutes=i),
                "model": "model",
                "version": version,
                "inputs": {"x": float(i), "c": "old" if version == "v0.1.0" else "new"},
                "prediction": "a" if version == "v0.1.0" else "b",
                "probabilities": {"a": 0.9, "b": 0.1} if version == "v0.1.0" else {"a": 0.2, "b": 0.8},
                "latency_ms": 1.0,
            }
        )
    log.write_predictions(rows)
    log.write_feedback([{"prediction_id": f"{i:032x}", "label": "a"} for i in (1, 2, 25)])
    return url


def test_log_rows_of_one_version_only(tmp_path: Path) -> None:
    url = _log(tmp_path)
    cur = LogSource(url, version="v0.2.0").read(Window(), FEATURES, CLASSES)
    assert len(cur.features) == 10 and set(cur.features["c"]) == {"new"}
    assert set(cur.predicted) == {"b"}
    assert cur.meta["version"] == "v0.2.0" and cur.meta["rows"] == 10
    assert cur.labelled is not None and len(cur.labelled) == 1  # only prediction 25 is v0.2.0's
    everything = LogSource(url).read(Window(), FEATURES, CLASSES)
    assert len(everything.features) == 30 and len(everything.labelled) == 3


def test_last_n_counts_rows_of_that_version(tmp_path: Path) -> None:
    url = _log(tmp_path)
    cur = LogSource(url, version="v0.1.0").read(Window(last=5), FEATURES, CLASSES)
    assert list(cur.features["x"]) == [15.0, 16.0, 17.0, 18.0, 19.0]


def test_version_without_traffic_names_the_versions_that_have_some(tmp_path: Path) -> None:
    url = _log(tmp_path)
    with pytest.raises(UserError) as err:
        LogSource(url, version="v0.3.0").read(Window(), FEATURES, CLASSES)
    msg = str(err.value)
    assert "no traffic logged for version v0.3.0" in msg and "v0.1.0, v0.2.0" in msg and "\n" not in msg
    late = Window(since=T0 + dt.timedelta(days=1))
    with pytest.raises(UserError, match="the window has no traffic at all"):
        LogSource(url, version="v0.1.0").read(late, FEATURES, CLASSES)


# ------------------------------------------------------------------ its own reference
@pytest.fixture(scope="module")
def dvc_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real git + DVC repo: stage `split` writes ref.csv; v0.1.0 and v0.2.0 tag different contents."""
    repo = tmp_path_factory.mktemp("deployed") / "repo"
    repo.mkdir()
    run(["git", "init", "-q", "-b", "main"], cwd=repo)
    dvc.run("init", "-q", cwd=repo)
    (repo / "src.txt").write_text("1\n")
    (repo / "dvc.yaml").write_text(
        "stages:\n  split:\n    cmd: cp src.txt ref.csv\n    deps: [src.txt]\n    outs: [ref.csv]\n"
    )
    (repo / "models").mkdir()
    for version, content in (("v0.1.0", "x\n1\n"), ("v0.2.0", "x\n2\n")):
        (repo / "src.txt").write_text(content)
        (repo / "models" / "signature.json").write_text(json.dumps({"features": {"x": {}}, "classes": [version]}))
        dvc.run("repro", cwd=repo)
        run(["git", "add", "-A"], cwd=repo)
        run(["git", "commit", "-q", "-m", version], cwd=repo)
        run(["git", "tag", "-a", tag_of(version), "-m", version], cwd=repo)
    return repo


def _dep(repo: Path, version: str) -> Deployed:
    commit = run(["git", "rev-parse", f"{tag_of(version)}^{{commit}}"], cwd=repo).stdout.strip()
    return Deployed(version, "prod", tag_of(version), commit)


def test_reference_is_read_at_the_versions_tag_and_pinned_by_its_lock(dvc_repo: Path) -> None:
    dep = _dep(dvc_repo, "v0.1.0")
    with reference_files(dep, dvc_repo, {"ref.csv": True, "preds.parquet": False}) as files:
        assert set(files) == {"ref.csv"}  # the optional one is not in that dvc.lock: left out
        local, meta = files["ref.csv"]
        assert local.read_text() == "x\n1\n"  # v0.1.0's data, not main's (x=2)
        assert meta["pinned"] and meta["rev"] == "model@v0.1.0" and meta["md5"] == meta["lock_md5"]
    assert not local.exists()  # a temp copy only
    assert signature_at(dep, dvc_repo)["classes"] == ["v0.1.0"]
    assert signature_at(Deployed(), dvc_repo) is None


def test_no_reference_in_the_versions_lock_is_a_one_line_error(dvc_repo: Path) -> None:
    with pytest.raises(UserError) as err, reference_files(_dep(dvc_repo, "v0.2.0"), dvc_repo, {"train.parquet": True}):
        pass
    msg = str(err.value)
    assert "model@v0.2.0" in msg and "records no output train.parquet" in msg and "\n" not in msg


def test_reference_missing_from_cache_and_remote_is_a_one_line_error(dvc_repo: Path, tmp_path: Path) -> None:
    repo = tmp_path / "copy"
    shutil.copytree(dvc_repo, repo, symlinks=True)
    shutil.rmtree(repo / ".dvc" / "cache")
    (repo / "ref.csv").unlink()
    with pytest.raises(UserError) as err, reference_files(_dep(repo, "v0.1.0"), repo, {"ref.csv": True}):
        pass
    assert "ref.csv@" in str(err.value) and "neither in the DVC cache nor in the remote" in str(err.value)
