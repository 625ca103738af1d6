"""One exception type for every failure a user can fix, printed as one line."""

from __future__ import annotations


class UserError(Exception):
    """A problem in the user's data, config or repository state.

    The CLI prints ``str(err)`` on one line and exits with ``exit_code``;
    no traceback, because the message already names the culprit.
    """

    exit_code = 2

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class GateFailure(UserError):
    """A quality gate said no: the pipeline ran, the model is not good enough."""

    exit_code = 1
