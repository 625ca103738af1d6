from __future__ import annotations

import copy
import re

import pytest

from ml_gitops.config.errors import UserError
from ml_gitops.config.settings import parse_settings


def test_composed_params_validate(settings_dict: dict) -> None:
    s = parse_settings(settings_dict)
    assert s.data.schema_.target == "species"
    assert "year" not in s.data.schema_.feature_columns
    assert set(s.data.schema_.categorical_features) == {"island", "sex"}


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("train", "seedz"), 1, "train.seedz: unknown config key"),
        (("evaluate", "confidence"), 1.5, "evaluate.confidence: Input should be less than 1"),
        (("runtime", "threads"), 0, "runtime.threads: Input should be greater than or equal to 1"),
        (
            ("data", "schema", "target"),
            "nope",
            "data.schema: target 'nope' is not one of the columns",
        ),
    ],
)
def test_bad_values_are_refused_naming_the_key(settings_dict: dict, path: tuple, value: object, message: str) -> None:
    raw = copy.deepcopy(settings_dict)
    node = raw
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(UserError) as exc:
        parse_settings(raw)
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


def test_settings_are_frozen(settings_dict: dict) -> None:
    s = parse_settings(settings_dict)
    with pytest.raises(Exception):  # noqa: B017 - pydantic raises its ValidationError
        s.split.seed = 1  # type: ignore[misc]


def test_extension_groups_pass_through(settings_dict: dict) -> None:
    s = parse_settings({**settings_dict, "serve": {"port": 8000}})
    # Other layers add their own groups to params.yaml (sweep, ...): check only the one added here.
    assert s.extra_groups["serve"] == {"port": 8000}


LOCK_LINE = "is empty or not valid YAML (an interrupted DVC write?): restore it with 'git checkout dvc.lock'"


@pytest.mark.parametrize(
    "text",
    ["", "\n", 'schema: "2.0"\nstages:\n  ingest:\n    cmd: x\n    outs:\n    - path: "data/a', "- just\n- a list\n"],
)
def test_an_empty_or_corrupt_dvc_lock_is_one_line_before_any_work(tmp_path, settings_dict: dict, text: str) -> None:
    import yaml

    from ml_gitops.cli.main import main
    from ml_gitops.config.lockfile import check_lock
    from ml_gitops.config.settings import load_settings

    (tmp_path / "params.yaml").write_text(yaml.safe_dump(settings_dict))
    lock = tmp_path / "dvc.lock"
    lock.write_text(text)
    with pytest.raises(UserError, match="dvc.lock " + re.escape(LOCK_LINE)):
        check_lock(lock, thorough=True)
    assert main(["lock", "check", "--lock", str(lock)]) == 2
    if not text.endswith("\n") or not text.strip():  # what a killed write leaves: the stages' quick check sees it
        with pytest.raises(UserError, match=re.escape(LOCK_LINE)):
            load_settings(tmp_path / "params.yaml")


def test_a_missing_or_valid_dvc_lock_passes(tmp_path) -> None:
    from ml_gitops.cli.main import main
    from ml_gitops.config.lockfile import check_lock

    check_lock(tmp_path / "dvc.lock", thorough=True)  # nothing has run yet
    (tmp_path / "dvc.lock").write_text('schema: "2.0"\nstages:\n  ingest:\n    cmd: x\n')
    assert main(["lock", "check", "--lock", str(tmp_path / "dvc.lock")]) == 0
