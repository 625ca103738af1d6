"""Our tag parser against GTO's own, the version bump and the state fold (no git needed)."""

from __future__ import annotations

import pytest
from gto.tag import parse_name

from ml_gitops.config.errors import UserError
from ml_gitops.registry.tags import Action, GitTag, build_state, bump, parse_tag, version_key

TAGS = [
    "model@v1.2.3",
    "model@v0.1.0!",
    "model#prod#7",
    "model#staging!#12",
    "my-model_2@v10.0.1",
    "models/churn@v1.0.0",
    "dir/sub=churn#prod#1",
    "model@v1.0.0-rc.1+build.5",
    "model@1.2.3",
    "model@v1.2",
    "model@v01.2.3",
    "model#prod",
    "model#prod#x",
    "-model@v1.0.0",
    "model@deprecated",
    "v1.0.0",
    "main",
    "model#pr od#1",
]


@pytest.mark.parametrize("tag", TAGS)
def test_parser_agrees_with_gto(tag: str) -> None:
    ours = parse_tag(tag)
    theirs = parse_name(tag, raise_on_fail=False)
    if ours is None:
        # GTO also reads counter-less stage tags and deprecations; we create and deploy neither.
        assert not theirs or ("counter" not in theirs and "version" not in theirs)
        return
    assert theirs["name"] == ours.artifact
    assert theirs["action"].value == ours.action.value
    assert theirs.get("version") == ours.version
    assert theirs.get("stage") == ours.stage
    assert theirs.get("counter") == ours.counter


def test_parse_refs_prefix_and_kinds() -> None:
    ref = parse_tag("refs/tags/model#prod!#4")
    assert ref is not None and (ref.action, ref.stage, ref.counter) == (Action.UNASSIGN, "prod", 4)


@pytest.mark.parametrize(
    ("version", "part", "expected"),
    [("v0.1.0", "minor", "v0.2.0"), ("v0.2.5", "major", "v1.0.0"), ("v1.2.3", "patch", "v1.2.4")],
)
def test_bump(version: str, part, expected: str) -> None:
    assert bump(version, part) == expected


@pytest.mark.parametrize("bad", ["1.2.3", "v1.2", "vX.Y.Z", "v1.2.3.4"])
def test_malformed_version_is_named(bad: str) -> None:
    with pytest.raises(UserError, match="malformed"):
        version_key(bad)


def test_state_follows_counters_not_clock() -> None:
    """Two assignments in the same second: the counter decides, as in GTO."""
    tags = [
        GitTag("model@v0.1.0", "a" * 40, 100, ""),
        GitTag("model@v0.2.0", "b" * 40, 101, ""),
        GitTag("model#prod#2", "a" * 40, 102, ""),
        GitTag("model#prod#1", "b" * 40, 102, ""),
        GitTag("model#staging#3", "b" * 40, 103, ""),
        GitTag("model#staging!#4", "b" * 40, 104, ""),
        GitTag("other@v9.0.0", "c" * 40, 105, ""),
        GitTag("model@v0.3.0", "d" * 40, 106, "", annotated=False),  # lightweight: GTO ignores it
    ]
    st = build_state("model", tags, ["staging", "prod"])
    assert st.sorted_versions() == ["v0.1.0", "v0.2.0"]
    assert st.stages == {"staging": None, "prod": "v0.1.0"}
    assert st.previous("v0.2.0") == "v0.1.0" and st.latest == "v0.2.0"


def test_config_groups_validate_and_name_bad_keys() -> None:
    from ml_gitops.config.registry import RegistrySettings, ReleaseSettings
    from ml_gitops.config.settings import load_group, parse_group

    from ..helpers import ROOT

    reg = load_group(RegistrySettings, "registry", ROOT / "params.yaml")
    rel = load_group(ReleaseSettings, "release", ROOT / "params.yaml")
    assert reg.auto_stage == "staging" and rel.known_limitations
    with pytest.raises(UserError, match=r"params\.yaml: registry\.defualt_bump: unknown config key$"):
        parse_group(RegistrySettings, {"defualt_bump": "major"}, "registry")
    with pytest.raises(UserError, match=r"registry\.default_bump: .* \(got 'huge'\)"):
        parse_group(RegistrySettings, {"default_bump": "huge"}, "registry")
    with pytest.raises(UserError, match=r"registry\.first_version: '1\.0' is not a version like v0\.1\.0"):
        parse_group(RegistrySettings, {"first_version": "1.0"}, "registry")
    with pytest.raises(UserError, match=r"tag:params\.yaml: registry\.git_remote: "):
        load_group(RegistrySettings, "registry", "tag:params.yaml", text="registry:\n  git_remote: [1]\n")
