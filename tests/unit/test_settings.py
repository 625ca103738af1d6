from __future__ import annotations

import copy

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
        (("model", "C"), "big", "model.C: Input should be a valid number"),
        (("model", "C"), -1, "model.C: Input should be greater than 0"),
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
