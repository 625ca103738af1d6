"""`schema draft`: a first conf/data/<name>.yaml from someone's CSV or Parquet file, with reasons.

The draft (core/draft.py) decides; this command reads the file, prints one line per
decision, checks the result validates as `data` settings and writes it atomically,
never over an existing config unless --force says so.
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import re
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CONF_DATA = Path("conf/data")


def _name(path: Path) -> str:
    """A config name from a file name: lower case, words joined by underscores."""
    return re.sub(r"[^a-z0-9]+", "_", path.stem.lower()).strip("_") or "my_data"


def _check_header(path: Path, delimiter: str) -> None:
    """Refuse a CSV header that names a column twice (readers would rename or drop one)."""
    from ..config.errors import UserError

    with path.open(encoding="utf-8", newline="") as fh:
        header = next(csv.reader(fh, delimiter=delimiter), [])
    seen: set[str] = set()
    for col in header:
        if col in seen:
            raise UserError(f"{path}: column {col!r} appears twice in the header; give each column its own name")
        seen.add(col)


def _draft(ns: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from ..adapters.io import write_text
    from ..adapters.tables import read_table, table_format
    from ..config.errors import UserError, config_error
    from ..config.settings import DataSettings
    from ..core.draft import DraftOptions, draft, to_yaml

    path: Path = ns.data
    name = ns.name or _name(path)
    out = ns.out_dir / f"{name}.yaml"
    if out.exists() and not ns.force:
        raise UserError(f"{out}: already exists; pass --force (make schema ... FORCE=1) to overwrite it")
    if not path.is_file():
        raise UserError(f"{path}: file not found")
    fmt = table_format(path)
    if fmt == "csv":
        _check_header(path, ns.delimiter)
    df = read_table(path, fmt=fmt, delimiter=ns.delimiter, na_values=ns.na_values)
    if df.columns.has_duplicates:
        raise UserError(f"{path}: column {df.columns[df.columns.duplicated()][0]!r} appears twice")
    if df.empty:
        raise UserError(f"{path}: no rows to draft a schema from")
    rel = os.path.relpath(path.resolve(), Path.cwd()) if path.resolve().is_relative_to(Path.cwd()) else str(path)
    source: dict[str, Any] = {"kind": "file", "path": rel, "format": fmt}
    if fmt == "csv":
        source.update(delimiter=ns.delimiter, na_values=list(ns.na_values))
    try:
        result = draft(df, name, source, DraftOptions(target=ns.target, seed=ns.seed))
    except ValueError as err:
        raise UserError(f"{path}: {err}") from None
    for line in result.decisions:
        print(line)  # the decisions are the command's output
    try:
        DataSettings.model_validate(result.config)
    except ValidationError as exc:  # the draft must never write a config the pipeline refuses
        raise config_error(exc, source=str(out), prefix=("data",)) from None
    command = f"make schema DATA={path}" + (f" TARGET={ns.target}" if ns.target else "")
    write_text(out, to_yaml(result.config, command))
    log.info("schema: %s written (%d columns, %d rows read); select it with data=%s", out, df.shape[1], len(df), name)
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser(
        "schema",
        help="draft a data config (conf/data/<name>.yaml) from a CSV or Parquet file",
        description="Draft a data config from a file: a kind per column (number, category, bool, "
        "date, text, id, or left out with feature: false), ranges with a margin, nullability, "
        "the target and the task, with one printed line per decision saying why.",
    )
    actions = p.add_subparsers(dest="schema_command", required=True, metavar="ACTION")
    d = actions.add_parser("draft", help="write conf/data/<name>.yaml from DATA (refuses to overwrite without --force)")
    d.add_argument("data", type=Path, help="the CSV or Parquet file")
    d.add_argument("--target", default=None, help="the column to predict (default: the last column)")
    d.add_argument("--name", default=None, help="the config's name (default: from the file name)")
    d.add_argument("--out-dir", type=Path, default=CONF_DATA, help="where the config goes")
    d.add_argument("--force", action="store_true", help="overwrite an existing config")
    d.add_argument("--delimiter", default=",", help="CSV field delimiter")
    d.add_argument("--na-values", nargs="*", default=["", "NA"], help="CSV values that mean missing")
    d.add_argument("--seed", type=int, default=0, help="seed of the sample the draft sniffs")
    d.set_defaults(handler=_draft)
