"""The floor the pipeline is compared with: read + split + fit + predict of the same
scikit-learn Pipeline in one process, no validation, no reports, no DVC.

    python benchmarks/bare.py PARAMS DATASET
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(params: str, dataset: str) -> None:
    import pandas as pd
    from sklearn.model_selection import train_test_split
    from threadpoolctl import threadpool_limits

    from ml_gitops.config.settings import load_settings
    from ml_gitops.core.features import build_pipeline, feature_frame

    s = load_settings(Path(params))
    schema = s.data.schema_
    df = pd.read_parquet(dataset)
    y = df[schema.target].astype(str)
    x_train, x_test, y_train, _ = train_test_split(
        feature_frame(df, schema), y, test_size=s.split.test_size, random_state=s.split.seed, stratify=y
    )
    if len(x_train) > s.train.max_rows:  # the pipeline trains on at most max_rows: so does the floor
        x_train, _, y_train, _ = train_test_split(
            x_train, y_train, train_size=s.train.max_rows, random_state=s.train.seed, stratify=y_train
        )
    pipe = build_pipeline(schema, s.model, s.train.preprocessing, s.train.seed)
    with threadpool_limits(limits=s.runtime.threads):
        pipe.fit(x_train, y_train)
        pipe.predict_proba(x_test)
    print(f"bare: fit {len(x_train)} rows, predicted {len(x_test)} rows")


if __name__ == "__main__":
    main(*sys.argv[1:3])
