"""split: a seeded, stratified train/test split.

Up to `split.in_memory_max_rows` rows, scikit-learn's `train_test_split` on the
whole frame. Above it, the table streams batch by batch: in each batch every
class gives a seeded random draw of its rows to the test side, the count carried
over batches so each class's test share matches `test_size` to within one row.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import paths
from ..errors import UserError
from ..settings import SplitSettings, load_settings

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa


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


class StreamSplitter:
    """Seeded, stratified assignment of successive batches to train or test."""

    def __init__(self, cfg: SplitSettings) -> None:
        self.cfg = cfg
        self.batch = 0
        self.seen: dict[str, int] = {}
        self.assigned: dict[str, int] = {}

    def test_mask(self, labels: Any) -> Any:
        """Boolean mask of the rows of this batch that go to the test side."""
        import numpy as np
        import pandas as pd

        rng = np.random.default_rng([self.cfg.seed, self.batch])
        self.batch += 1
        labels = pd.Series(labels).astype(str).to_numpy() if self.cfg.stratify else np.zeros(len(labels), dtype=int)
        mask = np.zeros(len(labels), dtype=bool)
        groups, codes = np.unique(labels, return_inverse=True)
        for g, group in enumerate(groups):
            rows = np.flatnonzero(codes == g)
            key = str(group)
            self.seen[key] = self.seen.get(key, 0) + len(rows)
            due = int(np.floor(self.cfg.test_size * self.seen[key] + 0.5)) - self.assigned.get(key, 0)
            take = max(0, min(due, len(rows)))
            self.assigned[key] = self.assigned.get(key, 0) + take
            mask[rng.choice(rows, size=take, replace=False)] = True
        return mask


def split_stream(batches: Iterable[pa.Table], target: str, cfg: SplitSettings) -> Iterator[tuple[pa.Table, pa.Table]]:
    """Core, streaming: yield (train part, test part) for each batch."""
    import pyarrow as pa
    import pyarrow.compute as pc

    splitter = StreamSplitter(cfg)
    for table in batches:
        mask = pa.array(splitter.test_mask(table.column(target).to_numpy(zero_copy_only=False)))
        yield table.filter(pc.invert(mask)), table.filter(mask)


def main(
    params: Path,
    validated: Path = paths.VALIDATED,
    train_out: Path = paths.TRAIN,
    test_out: Path = paths.TEST,
) -> None:
    from ..io import parquet_rows, read_table, write_parquet

    settings = load_settings(params)
    cfg, target = settings.split, settings.data.schema_.target
    if parquet_rows(validated) > cfg.in_memory_max_rows:
        n_train, n_test = _main_stream(validated, train_out, test_out, target, cfg, settings.runtime.batch_rows)
        how = "streamed"
    else:
        df = read_table(validated)
        train, test = split(df, target, cfg)
        write_parquet(train_out, train)
        write_parquet(test_out, test)
        n_train, n_test, how = len(train), len(test), "in memory"
    print(f"split: {n_train} train / {n_test} test rows (seed {cfg.seed}, {how})")


def _main_stream(
    validated: Path, train_out: Path, test_out: Path, target: str, cfg: SplitSettings, batch_rows: int
) -> tuple[int, int]:
    import pyarrow as pa

    from ..io import ParquetSink, open_parquet

    pf = open_parquet(validated)
    batches = (pa.Table.from_batches([b]) for b in pf.iter_batches(batch_size=batch_rows))
    with ParquetSink(train_out, batch_rows) as train_sink, ParquetSink(test_out, batch_rows) as test_sink:
        for train, test in split_stream(batches, target, cfg):
            train_sink.write(train)
            test_sink.write(test)
        if train_sink.rows == 0 or test_sink.rows == 0:
            raise UserError(f"split.test_size={cfg.test_size} leaves an empty side for {pf.metadata.num_rows} rows")
        n_test = test_sink.close(empty_schema=pf.schema_arrow)
        n_train = train_sink.close(empty_schema=pf.schema_arrow)
    return n_train, n_test
