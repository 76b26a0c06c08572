#!/usr/bin/env bash
# Creates .venv-checkov with a pinned checkov, once; a second run installs nothing.
# checkov 3.3.30's package metadata pins boto3==1.35.49 and networkx<2.7 (`importlib.metadata.requires("checkov")`),
# which would downgrade what moto and Ray need in .venv, so it lives in a virtualenv of its own.
set -euo pipefail
CHECKOV_VERSION=3.3.30
VENV=${CHECKOV_VENV:-.venv-checkov}
PYTHON=${PYTHON:-python3}
STAMP="$VENV/.checkov-$CHECKOV_VERSION"
[ -f "$STAMP" ] && exit 0
test -x "$VENV/bin/python" || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "checkov==$CHECKOV_VERSION"
rm -f "$VENV"/.checkov-*
touch "$STAMP"
