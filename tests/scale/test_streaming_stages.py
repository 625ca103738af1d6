"""validate, split and train on data above their in-memory limits: streamed, seeded, stratified."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import yaml

from ml_gitops.core.metrics import Predictions
from ml_gitops.core.schema import read_schema
from ml_gitops.pipeline import split as split_stage
from ml_gitops.pipeline import train as train_stage
from ml_gitops.pipeline import validate as validate_stage
from ml_gitops.pipeline.evaluate import write_plots
from ml_gitops.pipeline.ingest import write_dataset

ROWS = 12_000


def params_file(s, tmp_path: Path) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(s.model_dump(by_alias=True, exclude={"extra_groups"}), sort_keys=False))
    return path


def test_streamed_validate_matches_whole_frame_and_split_is_stratified(make_settings, tmp_path: Path) -> None:
    s = make_settings(
        {"n_rows": ROWS, "batch_rows": 1_000, "missing_rate": 0.05},
        runtime={"batch_rows": 1_000},
        split={"test_size": 0.25},
        train={"max_rows": 3_000},
    )
    params = params_file(s, tmp_path)
    ds, val, rep = tmp_path / "ds.parquet", tmp_path / "val.parquet", tmp_path / "val.json"
    write_dataset(s.data, ds)
    validate_stage.main(params, ds, val, rep, tmp_path / "schema.json")
    assert read_schema(tmp_path / "schema.json") == s.data.schema_  # what train will build from

    # Batch by batch gives the whole-frame answer: same rows, same report.
    whole_frame, whole_report = validate_stage.validate(pd.read_parquet(ds), s.data)
    pd.testing.assert_frame_equal(pd.read_parquet(val), whole_frame, check_dtype=False)
    written = yaml.safe_load(rep.read_text())
    # The stage adds the label-consistency findings on the validated table; the rest is the pure core's.
    assert written.pop("consistency")["conflicting_labels"]["rule"] == "warn"
    assert written == whole_report
    assert pq.ParquetFile(val).metadata.num_row_groups == ROWS // 1_000

    tr, te = tmp_path / "train.parquet", tmp_path / "test.parquet"
    split_stage.main(params, val, tr, te)
    train, test = pd.read_parquet(tr), pd.read_parquet(te)
    assert len(train) + len(test) == ROWS
    counts = whole_frame["label"].value_counts()
    for label, n in counts.items():  # stratified: each class's test share is exact to one row
        assert abs((test["label"] == label).sum() - 0.25 * n) <= 1
    # Seeded: the same split again, byte for byte.
    tr2, te2 = tmp_path / "train2.parquet", tmp_path / "test2.parquet"
    split_stage.main(params, val, tr2, te2)
    assert tr.read_bytes() == tr2.read_bytes() and te.read_bytes() == te2.read_bytes()
    # Every row lands on exactly one side.
    key = ["num_0", "num_1"]
    both = pd.concat([train, test])[key].dropna()
    assert not both.duplicated().any()

    # Train above train.max_rows: a streamed, seeded, stratified sample of at most max_rows.
    sample = train_stage.read_sample(tr, s)
    assert len(sample) <= 3_000 and len(sample) >= 3_000 - len(counts)
    share = sample["label"].value_counts(normalize=True)
    full = train["label"].value_counts(normalize=True)
    assert np.allclose(share.sort_index(), full.sort_index(), atol=1e-3)
    pd.testing.assert_frame_equal(sample, train_stage.read_sample(tr, s))


def test_validate_turns_nan_into_missing_in_every_batch(make_settings, tmp_path: Path) -> None:
    import pyarrow as pa

    s = make_settings({"n_rows": 5_000, "batch_rows": 1_000, "missing_rate": 0.05}, runtime={"batch_rows": 1_000})
    params = params_file(s, tmp_path)
    ds, val, rep = tmp_path / "ds.parquet", tmp_path / "val.parquet", tmp_path / "val.json"
    write_dataset(s.data, ds)
    validate_stage.main(params, ds, val, rep, tmp_path / "schema.json")
    pd.testing.assert_frame_equal(pd.read_parquet(val), pd.read_parquet(ds), check_dtype=False)

    # NaN (not null) in num_0 from row 3,000 on: validate writes it as missing, every row kept.
    table = pq.read_table(ds)
    values = table.column("num_0").to_numpy(zero_copy_only=False)  # missing -> NaN
    missing = np.isnan(values)
    assert missing[3_000:4_000].any()
    late_nan = pa.array(values, mask=missing & (np.arange(len(values)) < 3_000))  # NaN, not null, from 3,000
    nan_ds = tmp_path / "nan.parquet"
    pq.write_table(
        table.set_column(table.schema.get_field_index("num_0"), "num_0", late_nan), nan_ds, row_group_size=1_000
    )
    validate_stage.main(params, nan_ds, val, rep, tmp_path / "schema.json")
    whole_frame, _ = validate_stage.validate(pd.read_parquet(nan_ds), s.data)
    pd.testing.assert_frame_equal(pd.read_parquet(val), whole_frame, check_dtype=False)
    written = pq.read_table(val).column("num_0")
    assert written.null_count == int(missing.sum())  # every NaN became missing, in every batch
    assert pq.ParquetFile(val).metadata.num_row_groups == 5


def test_plot_files_are_capped_on_big_test_sets(make_settings, tmp_path: Path) -> None:
    s = make_settings(evaluate={"plot_max_rows": 500})
    rng = np.random.default_rng(0)
    n = 50_000
    proba = rng.random((n, 2))
    proba /= proba.sum(axis=1, keepdims=True)
    p = Predictions(rng.integers(0, 2, n), proba, ["no", "yes"])
    imp = pd.DataFrame({"feature": ["a"], "importance": [0.1], "std": [0.0]})
    eff = {"method": "partial dependence", "rows": 0, "outputs": ["no", "yes"], "features": []}
    write_plots(p, imp, eff, s.evaluate, tmp_path / "plots", tmp_path / "figures")
    assert len(pd.read_csv(tmp_path / "plots/confusion.csv")) == 500
    assert len(pd.read_csv(tmp_path / "plots/roc/yes.csv")) <= 501
