"""split: a seeded, stratified train/test split (a plain seeded random one for a regression target).

The table streams batch by batch (`runtime.batch_rows`), so memory stays flat at
any row count: in each batch every class gives a seeded random draw of its rows
to the test side, the count carried over batches so each class's test share
matches `test_size` to within one row (scikit-learn's `train_test_split` needs
the whole table in memory).
"""

import logging
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..adapters.io import clear_stale
from ..adapters.progress import progress, timed
from ..adapters.tables import ParquetSink, open_parquet
from ..config import paths
from ..config.errors import UserError
from ..config.settings import SplitSettings, load_settings

log = logging.getLogger(__name__)


def check_classes(counts: Mapping[str, int], target: str, cfg: SplitSettings) -> None:
    """A stratified split needs at least two rows of every class."""
    if cfg.stratify and counts:
        rare = min(counts, key=lambda k: (counts[k], k))
        if counts[rare] < 2:
            raise UserError(f"split.stratify: class {rare!r} of {target!r} has {counts[rare]} row(s); need >= 2")


class StreamSplitter:
    """Seeded, stratified assignment of successive batches to train or test."""

    def __init__(self, cfg: SplitSettings) -> None:
        self.cfg = cfg
        self.batch = 0
        self.seen: dict[str, int] = {}
        self.assigned: dict[str, int] = {}

    def test_mask(self, labels: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """Boolean mask of the rows of this batch that go to the test side."""
        rng = np.random.default_rng([self.cfg.seed, self.batch])
        self.batch += 1
        n = len(labels)
        if self.cfg.stratify:
            labels = labels.combine_chunks() if isinstance(labels, pa.ChunkedArray) else labels
            encoded = pc.dictionary_encode(labels.cast(pa.large_string()))
            names = [str(v) for v in encoded.dictionary.to_pylist()]
            codes = encoded.indices.to_numpy(zero_copy_only=False)
        else:
            names, codes = ["*"], np.zeros(n, dtype=np.int64)
        order = np.argsort(codes, kind="stable")  # rows grouped by class, in row order
        bounds = np.r_[0, np.cumsum(np.bincount(codes, minlength=len(names)))]
        mask = np.zeros(n, dtype=bool)
        for g in sorted(range(len(names)), key=names.__getitem__):  # classes in name order: seeded draws
            rows = order[bounds[g] : bounds[g + 1]]
            key = names[g]
            self.seen[key] = self.seen.get(key, 0) + len(rows)
            due = int(np.floor(self.cfg.test_size * self.seen[key] + 0.5)) - self.assigned.get(key, 0)
            take = max(0, min(due, len(rows)))
            self.assigned[key] = self.assigned.get(key, 0) + take
            mask[rng.choice(rows, size=take, replace=False)] = True
        return mask


def task_split(cfg: SplitSettings, task: str) -> SplitSettings:
    """A numeric target is not stratified: every value would be its own class (a plain seeded draw)."""
    if task == "regression" and cfg.stratify:
        log.info("split: regression target, so split.stratify is not applied (a seeded random split)")
        return cfg.model_copy(update={"stratify": False})
    return cfg


def split_stream(batches: Iterable[pa.Table], target: str, cfg: SplitSettings) -> Iterator[tuple[pa.Table, pa.Table]]:
    """Core, streaming: yield (train part, test part) for each batch."""
    splitter = StreamSplitter(cfg)
    for table in batches:
        mask = splitter.test_mask(table.column(target))
        yield table.filter(pa.array(~mask)), table.filter(pa.array(mask))


def split(df: pd.DataFrame, target: str, cfg: SplitSettings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The same split of one in-memory frame: (train, test)."""
    check_classes({str(k): int(v) for k, v in df[target].value_counts().items()}, target, cfg)
    mask = StreamSplitter(cfg).test_mask(pa.array(df[target].astype(str).tolist()))
    train, test = df[~mask], df[mask]
    if len(test) == 0 or len(train) == 0:
        raise UserError(f"split.test_size={cfg.test_size} leaves an empty side for {len(df)} rows")
    return train.reset_index(drop=True), test.reset_index(drop=True)


def class_counts(pf: pq.ParquetFile, target: str) -> dict[str, int]:
    """Rows per class of a Parquet file's target column (one column read)."""
    column = pf.read(columns=[target]).column(target).cast(pa.large_string())
    return {str(c["values"]): int(c["counts"]) for c in pc.value_counts(column).to_pylist()}


def main(
    params: Path,
    validated: Path = paths.VALIDATED,
    train_out: Path = paths.TRAIN,
    test_out: Path = paths.TEST,
) -> None:
    clear_stale(train_out, test_out)
    settings = load_settings(params)
    cfg, target, batch_rows = settings.split, settings.data.schema_.target, settings.runtime.batch_rows
    cfg = task_split(cfg, settings.data.schema_.task)
    pf = open_parquet(validated)
    rows = pf.metadata.num_rows
    log.info("split: %d rows from %s, in batches of %d", rows, validated, batch_rows)
    if cfg.stratify:
        check_classes(class_counts(pf, target), target, cfg)
    batches = (pa.Table.from_batches([b]) for b in pf.iter_batches(batch_size=batch_rows))
    batches = progress(batches, desc="split", total=-(-rows // batch_rows), unit="batch")
    with (
        timed(log, "split: split and write"),
        ParquetSink(train_out, batch_rows) as train_sink,
        ParquetSink(test_out, batch_rows) as test_sink,
    ):
        for train, test in split_stream(batches, target, cfg):
            train_sink.write(train)
            test_sink.write(test)
        if train_sink.rows == 0 or test_sink.rows == 0:
            raise UserError(f"split.test_size={cfg.test_size} leaves an empty side for {rows} rows")
        n_test = test_sink.close(empty_schema=pf.schema_arrow)
        n_train = train_sink.close(empty_schema=pf.schema_arrow)
    log.info("split: %d train rows -> %s, %d test rows -> %s (seed %d)", n_train, train_out, n_test, test_out, cfg.seed)
