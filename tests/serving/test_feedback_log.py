"""Fast checks of the pieces behind authenticated feedback: token sources and the one-label log write."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml_gitops.adapters.predlog import PredictionLog
from ml_gitops.config.errors import UserError
from ml_gitops.config.serve import AuthSettings
from ml_gitops.serving.auth import load_tokens

TOKEN = "a-token-long-enough-1234"


def test_tokens_come_from_the_named_env_var_or_file(tmp_path: Path) -> None:
    cfg = AuthSettings(feedback_token_env="FB", predict_token_env=None)
    assert load_tokens(cfg, {"FB": f" {TOKEN}\n"}).feedback == TOKEN.encode()
    assert load_tokens(cfg, {}).feedback is None  # not configured: feedback off
    secret = tmp_path / "fb.token"
    secret.write_text(TOKEN + "\nignored second line\n")
    from_file = AuthSettings(feedback_token_env="FB", feedback_token_file=str(secret))
    assert load_tokens(from_file, {}).feedback == TOKEN.encode()
    assert load_tokens(from_file, {"FB": "env-wins-over-the-file-0"}).feedback == b"env-wins-over-the-file-0"


@pytest.mark.parametrize(
    ("cfg", "environ", "words"),
    [
        (AuthSettings(predict_token_env="PR"), {}, "$PR is not set"),
        (AuthSettings(feedback_token_env="FB"), {"FB": "short"}, "shorter than 16"),
        (AuthSettings(feedback_token_file="/nonexistent/fb.token"), {}, "cannot read /nonexistent/fb.token"),
    ],
    ids=["predict token configured but absent", "short token", "unreadable file"],
)
def test_bad_token_sources_are_one_line_errors(cfg: AuthSettings, environ: dict, words: str) -> None:
    with pytest.raises(UserError, match=None) as err:
        load_tokens(cfg, environ)
    assert words in str(err.value) and "\n" not in str(err.value)
    assert "short" not in str(err.value).replace("shorter", "")  # the token itself is never in the message


def _log(tmp_path: Path) -> PredictionLog:
    log = PredictionLog(f"sqlite:///{tmp_path / 'p.db'}").create()
    row = {"model": "m", "version": "v", "inputs": {}, "prediction": "x", "probabilities": {}}
    log.write_predictions([{**row, "id": "a" * 32}, {**row, "id": "b" * 32}])
    return log


def test_feedback_is_written_for_known_ids_once(tmp_path: Path) -> None:
    log = _log(tmp_path)
    queued = {"c" * 32}.__contains__  # answered by this process, not written yet
    out = log.add_feedback(
        [{"prediction_id": "a" * 32, "label": "x"}, {"prediction_id": "z" * 32, "label": "x"}], queued
    )
    assert out.unknown == ["z" * 32] and out.written == 0
    out = log.add_feedback(
        [{"prediction_id": "a" * 32, "label": "x"}, {"prediction_id": "c" * 32, "label": "y"}], queued
    )
    assert out.written == 2 and not out.unknown and not out.labelled
    out = log.add_feedback(
        [{"prediction_id": "b" * 32, "label": "x"}, {"prediction_id": "a" * 32, "label": "z"}], queued
    )
    assert out.labelled == ["a" * 32] and out.written == 0  # refuse: nothing of the request is written
    assert log.counts()["feedback"] == 2
    out = log.add_feedback(
        [{"prediction_id": "b" * 32, "label": "x"}, {"prediction_id": "a" * 32, "label": "z"}], queued, keep_first=True
    )
    assert out.written == 1 and out.labelled == ["a" * 32]
    labels = log.read_window(with_feedback=True).set_index("id")["label"]
    assert labels["a" * 32] == "x" and labels["b" * 32] == "x"
