"""Progress bars show on a terminal only; off one (CI, DVC's output) the work is the same and silent."""

from __future__ import annotations

import io
import logging

import pytest

from ml_gitops.adapters import progress


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bars_draw_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    err = Tty()
    monkeypatch.setattr("sys.stderr", err)
    progress.setup_logging(0)
    assert list(progress.progress(range(3), desc="rows")) == [0, 1, 2]
    with progress.counter(desc="sweep", total=4, unit="exp") as bar:
        bar.update(4)
    drawn = err.getvalue()  # tqdm redraws at most every 0.1 s and clears the bar at the end (leave=False)
    assert "rows:" in drawn and "0/3" in drawn and "sweep:" in drawn and "0/4" in drawn, drawn


def test_no_bar_when_quiet_or_off_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    for stream, level in ((io.StringIO(), 0), (Tty(), -1)):
        monkeypatch.setattr("sys.stderr", stream)
        progress.setup_logging(level)
        assert list(progress.progress(range(3), desc="rows")) == [0, 1, 2]
        with progress.counter(desc="sweep", total=2) as bar:
            bar.update(2)
        assert stream.getvalue() == ""
    progress.setup_logging(0)


def test_timed_logs_the_step(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO), progress.timed(logging.getLogger("t"), "fit"):
        pass
    assert caplog.messages and caplog.messages[0].startswith("fit: ") and caplog.messages[0].endswith(" s")


def test_verbose_shows_our_debug_lines_not_every_librarys(capsys: pytest.CaptureFixture[str]) -> None:
    progress.setup_logging(1)
    logging.getLogger("ml_gitops.pipeline.train").debug("ours")
    logging.getLogger("matplotlib.font_manager").debug("findfont: score(...)")
    progress.setup_logging(2)
    logging.getLogger("matplotlib.font_manager").debug("theirs at -vv")
    progress.setup_logging(0)
    logging.getLogger("ml_gitops.pipeline.train").debug("not at the default level")
    err = capsys.readouterr().err
    assert "ours" in err and "theirs at -vv" in err
    assert "findfont" not in err and "not at the default level" not in err
