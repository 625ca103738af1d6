"""export: convert the trained Pipeline to ONNX and prove it answers like scikit-learn.

The pipeline runs this from the `train` stage, in the process that fitted the
model (a stage of its own would pay a second start-up on every model change).
The CLI's `export` command re-exports a saved model by hand.

Serving uses ONNX Runtime when it can (much faster per row than a Pipeline on a
one-row DataFrame: docs/performance.md) but only if the ONNX graph's probabilities
match the Pipeline's within `serve.onnx.tolerance` on real rows (a seeded sample
of `serve.onnx.parity_rows`) and on as many synthetic rows drawn from the
signature (ranges, categories, missing values).
When they do not, or the model cannot be converted, the stage still succeeds
(an experiment with another model family must not fail here) but writes
`usable: false` and the reason to the report; serving then falls back to the
skops Pipeline.

Two converter details matter for parity (skl2onnx 1.20):
- numeric SimpleImputer: skl2onnx emits ai.onnx.ml Imputer, float32 only,
  which ONNX Runtime refuses for double inputs; we emit IsNaN + Where in float64.
- categorical SimpleImputer: skl2onnx needs a string `missing_values`; the
  converted copy uses "" (how serving feeds a missing category).
"""

import copy
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from onnx import TensorProto
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import DoubleTensorType, StringTensorType
from skl2onnx.operator_converters.common import concatenate_variables
from skl2onnx.operator_converters.imputer_op import convert_sklearn_imputer
from sklearn.impute import SimpleImputer

from ..config import paths
from ..config.onnx import onnx_settings
from ..config.settings import load_settings
from ..core.schema import onnx_input_names
from .io import read_json, write_bytes, write_json
from .onnx import MISSING_CATEGORY, OnnxPredictor, feature_kinds, frame_feed, sklearn_frame, synthetic_rows
from .persistence import load_model
from .tables import read_table

log = logging.getLogger(__name__)

OPSETS = {"": 17, "ai.onnx.ml": 3}
NO_ONNX_DTYPES = frozenset({"date", "text"})  # kinds whose Pipeline steps (core/features.py) cannot convert


def _imputer_converter(scope: Any, operator: Any, container: Any) -> None:
    """SimpleImputer in float64 (numeric) or via skl2onnx's string path (categorical)."""
    if isinstance(operator.inputs[0].type, StringTensorType):
        convert_sklearn_imputer(scope, operator, container)
        return
    op = operator.raw_operator
    x = concatenate_variables(scope, operator.inputs, container)
    stats = scope.get_unique_variable_name("statistics")
    values = [float(v) for v in op.statistics_]
    container.add_initializer(stats, TensorProto.DOUBLE, [1, len(values)], values)
    mask = scope.get_unique_variable_name("isnan")
    container.add_node("IsNaN", [x], [mask], name=scope.get_unique_operator_name("IsNaN"))
    container.add_node(
        "Where", [mask, stats, x], [operator.outputs[0].full_name], name=scope.get_unique_operator_name("Where")
    )


def _for_conversion(pipeline: Any) -> Any:
    """A copy whose string imputers treat "" as missing (the fitted statistics are unchanged)."""
    clone = copy.deepcopy(pipeline)
    stack = [clone]
    while stack:
        est = stack.pop()
        if isinstance(est, SimpleImputer) and getattr(est, "statistics_", None) is not None:
            if est.statistics_.dtype == object:
                est.missing_values = MISSING_CATEGORY
            continue
        for attr in ("steps", "transformers_"):
            for item in getattr(est, attr, []) or []:
                stack.append(item[1])
    return clone


def _rename_inputs(graph: Any, names: list[str]) -> None:
    """Give the graph's inputs (in ``initial_types`` order) the names the signature records.

    skl2onnx needs the column names to match the ColumnTransformer's, then renames the
    ones that are not identifiers its own way; we pin them to ``onnx_input_names``.
    """
    if len(graph.input) != len(names):
        raise ValueError(f"the graph has {len(graph.input)} inputs for {len(names)} feature columns")
    for graph_input, name in zip(graph.input, names, strict=True):
        old = graph_input.name
        if old == name:
            continue
        graph_input.name = name
        for node in graph.node:
            for i, used in enumerate(node.input):
                if used == old:
                    node.input[i] = name


def convert(pipeline: Any, signature: Mapping[str, Any]) -> bytes:
    """Pure core: the Pipeline as deterministic ONNX bytes (float64 numbers, string categories)."""
    kinds = feature_kinds(signature)
    renamed = onnx_input_names(sorted(kinds))  # column names that are not identifiers get one
    # Inputs by name, not signature order: the signature read back from JSON has sorted keys,
    # the one train builds has schema order, and both must give the same bytes (inputs are fed by name).
    inputs = [
        (name, DoubleTensorType([None, 1]) if kind == "num" else StringTensorType([None, 1]))
        for name, kind in sorted(kinds.items())
    ]
    model = _for_conversion(pipeline)
    onx = convert_sklearn(
        model,
        name="model",
        initial_types=inputs,
        options={id(model): {"zipmap": False}},
        target_opset=OPSETS,
        custom_conversion_functions={SimpleImputer: _imputer_converter},
    )
    _rename_inputs(onx.graph, [renamed.get(name, name) for name, _ in inputs])
    onx.producer_name = "sklearn-pipeline-export"  # no project name: renamed projects build identical bytes
    onx.producer_version = ""
    onx.doc_string = ""
    # skl2onnx collects opset imports in a set: order varies with the process's hash seed.
    opsets = sorted((o.domain, o.version) for o in onx.opset_import)
    del onx.opset_import[:]
    for domain, version in opsets:
        entry = onx.opset_import.add()
        entry.domain, entry.version = domain, version
    return onx.SerializeToString(deterministic=True)


def parity(pipeline: Any, onnx_bytes: bytes, frame: pd.DataFrame, signature: Mapping[str, Any]) -> dict[str, Any]:
    """Max |Δ probability| and label agreement of ONNX vs the Pipeline on ``frame``."""
    predictor = OnnxPredictor(onnx_bytes, signature)
    features = list(signature["features"])
    expected = np.asarray(pipeline.predict_proba(sklearn_frame(frame[features], signature)), dtype=float)
    got = np.asarray(predictor.proba(frame_feed(frame, predictor.kinds)), dtype=float)
    classes = [str(c) for c in pipeline.classes_]
    if classes != predictor.classes or got.shape != expected.shape:
        return {"max_abs_diff": None, "labels_match": False, "rows": len(frame), "reason": "class order differs"}
    diff = float(np.abs(got - expected).max()) if len(frame) else 0.0
    labels = bool((got.argmax(axis=1) == expected.argmax(axis=1)).all())
    return {"max_abs_diff": diff, "labels_match": labels, "rows": len(frame)}


def parity_sample(real: pd.DataFrame, signature: Mapping[str, Any], rows: int, seed: int) -> pd.DataFrame:
    """The real rows the parity check uses: the feature columns of at most ``rows`` (seeded)."""
    features = list(signature["features"])
    return real[features] if len(real) <= rows else real[features].sample(n=rows, random_state=seed)


def export(
    pipeline: Any, signature: Mapping[str, Any], real: pd.DataFrame, tolerance: float, rows: int, seed: int
) -> tuple[bytes, dict[str, Any]]:
    """Pure core: ONNX bytes (b"" when conversion fails) and the parity report.

    Parity is checked on at most ``rows`` of ``real`` (a seeded sample) plus ``rows``
    synthetic rows from the signature.
    """
    report: dict[str, Any] = {"tolerance": tolerance, "format": "onnx", "opsets": OPSETS}
    unsupported = sorted(n for n, spec in signature["features"].items() if spec["dtype"] in NO_ONNX_DTYPES)
    if unsupported:  # our date and text steps have no skl2onnx converter: say so, not its traceback
        why = f"date and text columns have no ONNX converter ({', '.join(unsupported)})"
        return b"", {**report, "usable": False, "reason": why}
    try:
        data = convert(pipeline, signature)
    except Exception as err:  # skl2onnx raises many types for unsupported models
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return b"", {**report, "usable": False, "reason": f"conversion failed: {type(err).__name__}: {first}"}
    sample = parity_sample(real, signature, rows, seed)
    frame = pd.concat(
        [sample.reset_index(drop=True), synthetic_rows(signature, rows, seed)[list(sample.columns)]],
        ignore_index=True,
    )
    try:
        check = parity(pipeline, data, frame, signature)
    except Exception as err:  # an ONNX graph ONNX Runtime cannot run
        return data, {**report, "usable": False, "reason": f"onnxruntime failed: {type(err).__name__}: {err}"}
    report.update(check)
    diff = check["max_abs_diff"]
    if diff is None or diff > tolerance or not check["labels_match"]:
        why = check.get("reason") or f"max |Δp| {diff:.3g} > tolerance {tolerance:g}"
        if diff is not None and diff <= tolerance:
            why = "predicted labels differ"
        return data, {**report, "usable": False, "reason": why}
    return data, {**report, "usable": True, "reason": None}


def write_export(
    pipeline: Any, signature: Mapping[str, Any], real: pd.DataFrame, cfg: Any, out: Path, report: Path
) -> str:
    """Export and write the ONNX model and its report (each atomically); return the summary line."""
    data, summary = export(pipeline, signature, real, cfg.tolerance, cfg.parity_rows, cfg.seed)
    write_bytes(out, data)
    write_json(report, summary)
    verdict = "usable" if summary["usable"] else f"NOT usable ({summary['reason']}); serving falls back to skops"
    return f"export: {out} ({len(data)} bytes): {verdict}"


def main(
    params: Path,
    model: Path = paths.MODEL,
    signature: Path = paths.SIGNATURE,
    rows: Path = paths.TEST,
    out: Path = paths.ONNX,
    report: Path = paths.ONNX_REPORT,
) -> None:
    cfg = onnx_settings(load_settings(params), str(params))
    sig = read_json(signature)
    log.info(
        "%s", write_export(load_model(model, sig.get("trusted_types", ())), sig, read_table(rows), cfg, out, report)
    )
