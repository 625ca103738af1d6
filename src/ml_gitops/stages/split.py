"""split: a seeded, stratified train/test split."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .. import paths
from ..errors import UserError
from ..settings import SplitSettings, load_settings

if TYPE_CHECKING:
    import pandas as pd


def split(df: pd.DataFrame, target: str, cfg: SplitSettings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Pure core: (train, test), stratified on the target when asked and possible."""
    from sklearn.model_selection import train_test_split

    counts = df[target].value_counts()
    if cfg.stratify and counts.min() < 2:
        rare = counts.idxmin()
        raise UserError(f"split.stratify: class {rare!r} of {target!r} has {counts.min()} row(s); need >= 2")
    train, test = train_test_split(
        df,
        test_size=cfg.test_size,
        random_state=cfg.seed,
        stratify=df[target] if cfg.stratify else None,
    )
    if len(test) == 0 or len(train) == 0:
        raise UserError(f"split.test_size={cfg.test_size} leaves an empty side for {len(df)} rows")
    return train.reset_index(drop=True), test.reset_index(drop=True)


def main(
    params: Path,
    validated: Path = paths.VALIDATED,
    train_out: Path = paths.TRAIN,
    test_out: Path = paths.TEST,
) -> None:
    from ..io import read_table, write_parquet

    settings = load_settings(params)
    df = read_table(validated)
    train, test = split(df, settings.data.schema_.target, settings.split)
    write_parquet(train_out, train)
    write_parquet(test_out, test)
    print(f"split: {len(train)} train / {len(test)} test rows (seed {settings.split.seed})")
