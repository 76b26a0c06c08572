"""mlplat's own checkov checks (CKV_MLPLAT_*), loaded with `--external-checks-dir`; they run in `.venv-checkov`."""
