"""Memory stays flat: ingest streams a big source in a child process under a modest peak RSS."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from ..helpers import BIN, ROOT, env
from .rss import measure

# Streamed, ingest peaked at 285 MiB in one run while the settings loader still imported
# scikit-learn to check `model._target_` (~170 MiB before and after that). A whole-file read needs
# more than this bound (2e6 rows as pandas are ~500 MiB on top of the interpreter).
BOUND_MIB = 330


def peak_rss_mib(cmd: list[str], cwd: Path) -> float:
    return measure(cmd, cwd, env=env()).peak_rss_mib


def big_parquet(path: Path, rows: int) -> None:
    rng = np.random.default_rng(1)
    cols = {"label": pa.array(np.where(rng.random(rows) < 0.5, "no", "yes"))}
    for i in range(6):
        cols[f"num_{i}"] = pa.array(rng.normal(0, 5, rows))
    cols["cat_0"] = pa.array(np.array(list("abcd"))[rng.integers(0, 4, rows)])
    cols["cat_1"] = pa.array(np.array(list("uvw"))[rng.integers(0, 3, rows)])
    pq.write_table(pa.table(cols), path, row_group_size=100_000)


def write_params(tmp_path: Path, source: dict) -> Path:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"] = yaml.safe_load((ROOT / "conf/data/synthetic.yaml").read_text())
    params["data"]["source"].update(source)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def test_ingest_of_2e6_row_parquet_file_streams(tmp_path: Path) -> None:
    src = tmp_path / "big.parquet"
    big_parquet(src, 2_000_000)
    params = write_params(tmp_path, {"kind": "file", "path": str(src), "format": "parquet", "batch_rows": 100_000})
    out = tmp_path / "ds.parquet"
    peak = peak_rss_mib([str(BIN / "ml-gitops"), "ingest", "--params", str(params), "--out", str(out)], ROOT)
    assert pq.ParquetFile(out).metadata.num_rows == 2_000_000
    assert peak < BOUND_MIB, f"ingest peaked at {peak:.0f} MiB"


def test_synthetic_ingest_streams(tmp_path: Path) -> None:
    params = write_params(tmp_path, {"n_rows": 1_000_000, "batch_rows": 50_000})
    out = tmp_path / "ds.parquet"
    peak = peak_rss_mib([str(BIN / "ml-gitops"), "ingest", "--params", str(params), "--out", str(out)], ROOT)
    assert pq.ParquetFile(out).metadata.num_rows == 1_000_000
    assert peak < BOUND_MIB, f"ingest peaked at {peak:.0f} MiB"
