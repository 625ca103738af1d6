"""Default locations of the pipeline's files: the contract between dvc.yaml and later layers.

`dvc.yaml` passes these explicitly to each stage; release, report, serving
and monitoring read the same names from here.
"""

from pathlib import Path

# The project's own files (relative to its root, where every command runs).
CONF = Path("conf")
PARAMS = Path("params.yaml")
DVC_LOCK = Path("dvc.lock")

# Stage inputs and outputs.
DATASET = Path("data/processed/dataset.parquet")
VALIDATED = Path("data/processed/validated.parquet")
SCHEMA = Path("data/processed/schema.json")
TRAIN = Path("data/processed/train.parquet")
TEST = Path("data/processed/test.parquet")
MODEL = Path("models/model.skops")
SIGNATURE = Path("models/signature.json")
TRAIN_SUMMARY = Path("models/training.json")
ONNX = Path("models/model.onnx")
ONNX_REPORT = Path("models/onnx.json")
VALIDATION_REPORT = Path("reports/validation.json")
METRICS = Path("reports/metrics.json")
PREDICTIONS = Path("reports/predictions.parquet")
PLOTS = Path("reports/plots")
FIGURES = Path("reports/figures")
GATE = Path("reports/gate.json")
SLICES = Path("reports/slices.json")
FAIRNESS = Path("reports/fairness.json")
LEAKAGE = Path("reports/leakage.json")
EFFECTS = Path("reports/effects.json")
