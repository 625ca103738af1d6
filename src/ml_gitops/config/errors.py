"""One exception type for every failure a user can fix, printed as one line, and the one way a
pydantic validation error becomes such a line."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import ValidationError


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


# Path elements pydantic adds for validators and unions; they are not config keys.
_NOT_KEYS = ("function-after", "function-before", "function-wrap", "tagged-union")


def config_error(
    exc: ValidationError,
    *,
    source: str,
    prefix: Sequence[str] = (),
    hidden: Collection[str] = (),
) -> UserError:
    """The first error of ``exc`` as one line: ``source: dotted.key: what is wrong (got value)``.

    ``prefix`` is the group the model was validated for (``("serve",)``); ``hidden`` are path
    elements that are not keys (a discriminated union's tag). A trailing ``_`` (``schema_``, a
    field renamed to dodge a name clash) is dropped, so the key reads as written in conf/.
    """
    first = exc.errors()[0]
    parts = [*prefix, *(str(p) for p in first["loc"])]
    keys = [p.rstrip("_") for p in parts if not p.startswith(_NOT_KEYS) and p not in hidden]
    loc = ".".join(keys) or "<root>"
    kind = first["type"]
    msg = "unknown config key" if kind == "extra_forbidden" else str(first["msg"]).removeprefix("Value error, ")
    value: Any = first.get("input")
    shown = "" if kind in {"missing", "extra_forbidden"} or isinstance(value, dict) else f" (got {value!r})"
    more = f" [+{exc.error_count() - 1} more]" if exc.error_count() > 1 else ""
    return UserError(f"{source}: {loc}: {msg}{shown}{more}")
