"""Finish part of a stage in a forked child while the parent goes on.

A stage's slowest imports often serve only its last step: matplotlib for the
evaluate figures, skops and skl2onnx for saving and exporting the trained model
(together 0.5-1 s of a stage, on every run). A `ForkedWorker` forks at the start
of the stage, before anything starts threads (pyarrow and ONNX Runtime keep
thread pools that must not be forked), imports those modules in the child on
the machine's other core, and runs its step once the parent hands over the data
over a pipe. Where there is no fork (Windows) the step runs in the parent.

    with ForkedWorker(draw, warm=["matplotlib.figure"], what="evaluate: figures") as worker:
        ...                       # the parent's own work
        worker.submit(payload)    # the child runs draw(payload)
    # leaving the block waits for the child and raises if it failed; an exception
    # before submit ends the child without running the step

The imports only pay off when the parent has as much work of its own to do
meanwhile (both processes importing at once slow each other down): with
``start=False`` the child waits, and the parent either calls ``start()`` once it
knows the work is big, or ``stay()`` to run the step itself.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from ..config.errors import UserError

GO = b"g"  # parent -> child: start importing; the pickled payload follows


class ForkedWorker:
    """One step of a stage, run in a child process with its imports done ahead of time."""

    def __init__(
        self, step: Callable[[Any], str | None], *, warm: Sequence[str] = (), what: str, start: bool = True
    ) -> None:
        self.step = step
        self.what = what
        self.pid = 0
        self._write = -1
        self._started = False
        if not hasattr(os, "fork"):
            return
        sys.stdout.flush()  # or the child would print the parent's buffered output again
        sys.stderr.flush()
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(write)
            self._child(read, warm)
        os.close(read)
        self.pid, self._write = pid, write
        if start:
            self.start()

    def start(self) -> None:
        """Let the child import its modules now (the parent has enough work of its own)."""
        if self.pid and not self._started:
            os.write(self._write, GO)
            self._started = True

    def stay(self) -> None:
        """Run the step in this process after all: the child exits without importing anything."""
        if self.pid:
            os.close(self._write)
            self._write = -1
            os.waitpid(self.pid, 0)
            self.pid = 0

    def _child(self, read: int, warm: Sequence[str]) -> None:
        """Wait for GO, import ``warm``, wait for the payload, run the step, exit (never returns)."""
        import importlib
        import pickle
        import traceback

        code = 0
        try:
            with os.fdopen(read, "rb") as pipe:
                if pipe.read(len(GO)) == GO:  # end of file instead: the parent stays or stopped
                    for name in warm:
                        importlib.import_module(name)
                    raw = pipe.read()
                    if raw:  # an empty pipe: the parent stopped before submit
                        line = self.step(pickle.loads(raw))  # noqa: S301 (written by our own parent process)
                        if line:
                            print(line)
        except UserError as err:
            print(f"{self.what}: error: {err}", file=sys.stderr)
            code = err.exit_code
        except BaseException:
            traceback.print_exc()
            code = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)

    def submit(self, payload: Any) -> None:
        """Hand ``payload`` to the child's step (or run the step here without a child)."""
        import pickle

        if not self.pid:
            line = self.step(payload)
            if line:
                print(line)
            return
        self.start()
        with os.fdopen(self._write, "wb") as pipe:
            self._write = -1
            pipe.write(pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))

    def __enter__(self) -> ForkedWorker:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self._write >= 0:  # never submitted: the child reads end of file and skips its step
            os.close(self._write)
            self._write = -1
        if not self.pid:
            return
        _, status = os.waitpid(self.pid, 0)
        self.pid = 0
        code = os.waitstatus_to_exitcode(status)
        if exc_type is None and code != 0:
            raise UserError(f"{self.what} failed (exit {code}; its error is above)", exit_code=code if code > 0 else 1)
