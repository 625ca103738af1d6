"""Feedback while working: one logging setup for every command, and progress bars for long loops.

Commands log through :mod:`logging` (``logging.getLogger(__name__)``); the CLI's ``-v`` shows
debug lines, ``-q`` only warnings and errors. Progress bars go to stderr, only on a terminal
and only when not quiet, so logs in CI and in DVC's output stay plain lines.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")
_quiet = False


def setup_logging(level: int = 0) -> None:
    """``level`` 0: info; 1: our debug lines; 2 or more: every library's too; -1 or less: warnings only
    (and no progress bars). At 1 the libraries stay at info: matplotlib alone logs hundreds of font lines."""
    global _quiet
    _quiet = level < 0
    logging.basicConfig(
        level=logging.DEBUG if level > 1 else logging.WARNING if level < 0 else logging.INFO,
        format="%(message)s",
        stream=sys.stderr,
        force=True,
    )
    logging.getLogger(__name__.split(".")[0]).setLevel(logging.DEBUG if level > 0 else logging.NOTSET)


def progress(items: Iterable[T], *, desc: str, total: int | None = None, unit: str = "it") -> Iterator[T]:
    """``items`` with a progress bar on an interactive terminal; the same items, silently, elsewhere."""
    disable = _quiet or not sys.stderr.isatty()
    yield from tqdm(items, desc=desc, total=total, unit=unit, disable=disable, leave=False, dynamic_ncols=True)


@contextmanager
def counter(*, desc: str, total: int, unit: str = "it") -> Iterator[tqdm]:
    """A bar the caller moves with ``.update(n)``, for work that finishes outside a Python loop."""
    disable = _quiet or not sys.stderr.isatty()
    with tqdm(desc=desc, total=total, unit=unit, disable=disable, leave=False, dynamic_ncols=True) as bar:
        yield bar


@contextmanager
def timed(log: logging.Logger, what: str) -> Iterator[None]:
    """Log how long a step took: ``what: 1.23 s``."""
    started = time.perf_counter()
    yield
    log.info("%s: %.2f s", what, time.perf_counter() - started)
