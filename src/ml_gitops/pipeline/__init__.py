"""One module per `dvc.yaml` stage: a pure core plus a thin `main()` that does the I/O."""
