"""Run an exported ONNX model with the same inputs and outputs as the scikit-learn Pipeline.

The ONNX export (train stage) and serving share this module so that the parity check at
export time exercises exactly the feeding code serving uses: one input tensor
per feature column, float64 for numbers (float32 thresholds move tree models'
probabilities: docs/performance.md), strings for categories, missing values as NaN
and "" respectively.
"""

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import onnxruntime as ort
import pandas as pd

from ..core.schema import onnx_input_names

MISSING_CATEGORY = ""  # how a missing category reaches the ONNX graph (see onnx_export.py)
MISSING_FRACTION = 0.1  # share of synthetic values set missing in nullable columns
SYNTHETIC_WORDS = np.array(["alpha", "beta", "gamma", "delta", "late", "refund", "great", "slow"], dtype=object)


def feature_kinds(signature: Mapping[str, Any]) -> dict[str, str]:
    """feature -> "num" or "cat" from a signature's feature specs."""
    return {name: "num" if spec["dtype"] in {"float", "int"} else "cat" for name, spec in signature["features"].items()}


def frame_feed(frame: Any, kinds: Mapping[str, str]) -> dict[str, Any]:
    """ONNX inputs from a DataFrame of (already validated) feature columns."""
    feed: dict[str, Any] = {}
    for name, kind in kinds.items():
        col = frame[name]
        if kind == "num":
            feed[name] = pd.to_numeric(col, errors="coerce").to_numpy(dtype="float64", na_value=np.nan).reshape(-1, 1)
        else:
            if col.dtype == object and pd.api.types.infer_dtype(col, skipna=True) in {"string", "empty"}:
                # Already text (batch scoring's validated frame): fill missing without a round trip via Arrow.
                arr = col.to_numpy(dtype=object)
                missing = pd.isna(arr)
                if missing.any():
                    arr = arr.copy()
                    arr[missing] = MISSING_CATEGORY
                feed[name] = arr.reshape(-1, 1)
                continue
            if pd.api.types.is_bool_dtype(col.dtype):
                col = col.map({True: "true", False: "false"})
            elif col.dtype == object and any(isinstance(v, bool) for v in col.head(1000)):
                col = col.map(lambda v: _as_str(v) if isinstance(v, bool) else v)
            feed[name] = col.astype("string").fillna(MISSING_CATEGORY).to_numpy(dtype=object).reshape(-1, 1)
    return feed


def records_feed(records: Sequence[Mapping[str, Any]], kinds: Mapping[str, str]) -> dict[str, Any]:
    """ONNX inputs from validated records (dicts): the per-request hot path, no pandas."""
    feed: dict[str, Any] = {}
    n = len(records)
    for name, kind in kinds.items():
        if kind == "num":
            feed[name] = np.array([np.nan if (v := r[name]) is None else v for r in records], dtype=np.float64).reshape(
                n, 1
            )
        else:
            feed[name] = np.array(
                [MISSING_CATEGORY if (v := r[name]) is None else _as_str(v) for r in records], dtype=object
            ).reshape(n, 1)
    return feed


def synthetic_rows(signature: Mapping[str, Any], n: int, seed: int) -> pd.DataFrame:
    """Rows that exercise every input path: full ranges, every category, missing values."""
    rng = np.random.default_rng(seed)
    cols: dict[str, Any] = {}
    for name, spec in sorted(signature["features"].items()):
        if spec["dtype"] in {"float", "int"}:
            lo = spec.get("min", -1e3 if spec.get("max") is None else spec["max"] - 1e3)
            hi = spec.get("max", lo + 1e3)
            values = rng.uniform(lo, hi, n)
            if spec["dtype"] == "int":
                values = np.round(values)
            col: Any = values.astype("float64")
        elif spec["dtype"] == "bool":
            col = rng.choice(np.array(["true", "false"], dtype=object), n)
        elif spec["dtype"] == "date":
            days = pd.Timestamp("2000-01-01") + pd.to_timedelta(rng.integers(0, 20_000, n), unit="D")
            col = np.asarray(days.strftime("%Y-%m-%d"), dtype=object)
        elif spec["dtype"] == "text":
            col = np.array([" ".join(rng.choice(SYNTHETIC_WORDS, 4)) for _ in range(n)], dtype=object)
        else:
            col = rng.choice(np.array(spec["categories"], dtype=object), n)
        if spec.get("nullable", True):
            missing = rng.random(n) < MISSING_FRACTION
            col = pd.Series(col, dtype=object if spec["dtype"] not in {"float", "int"} else "float64")
            col[missing] = np.nan if spec["dtype"] in {"float", "int"} else None
        cols[name] = col
    return pd.DataFrame(cols)


def sklearn_frame(frame: pd.DataFrame, signature: Mapping[str, Any]) -> pd.DataFrame:
    """Categories as object columns with None for missing, as training saw them."""
    out = frame.copy()
    for name, kind in feature_kinds(signature).items():
        if kind == "cat":
            out[name] = out[name].astype(object).where(out[name].notna(), np.nan)
    return out


def _as_str(v: Any) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    return str(v)


class OnnxPredictor:
    """An ONNX Runtime session pinned to one thread (multi-threaded spin-waits on shared boxes)."""

    def __init__(self, data: bytes, signature: Mapping[str, Any], threads: int = 1) -> None:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = threads
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
        self.kinds = feature_kinds(signature)
        # column -> graph input for names that are not identifiers (the signature keeps the mapping)
        self.inputs: dict[str, str] = dict(signature.get("onnx_inputs") or onnx_input_names(sorted(self.kinds)))
        self.classes = [str(c) for c in signature["classes"]]
        outputs = [o.name for o in self.session.get_outputs()]
        self._proba_name = "probabilities" if "probabilities" in outputs else outputs[-1]

    def proba(self, feed: Mapping[str, Any]) -> Any:
        """Class probabilities, shape (n, n_classes), columns in `self.classes` order."""
        if self.inputs:
            feed = {self.inputs.get(name, name): value for name, value in feed.items()}
        return self.session.run([self._proba_name], dict(feed))[0]


class OnnxClassifier:
    """The exported graph behind the part of scikit-learn's classifier API evaluate uses.

    ``classes_`` and ``predict_proba(frame)`` on a frame of feature columns, so the
    stage scores the model the way serving runs it.
    """

    def __init__(self, data: bytes, signature: Mapping[str, Any], threads: int = 1) -> None:
        self._predictor = OnnxPredictor(data, signature, threads)
        self.classes_ = np.asarray(self._predictor.classes, dtype=object)

    def predict_proba(self, frame: pd.DataFrame) -> Any:
        return self._predictor.proba(frame_feed(frame, self._predictor.kinds))
