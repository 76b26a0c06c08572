#!/usr/bin/env bash
# Synthesizes every stack at BASE (a git revision, default main) and in the working tree, then compares the graphs
# (python -m mlplat.graph_diff; extra arguments go to it, e.g. --allow-replace or --json). Exit status is its.
set -euo pipefail
base="${1:-main}"
shift || true
root="$(git rev-parse --show-toplevel)"
python="${PYTHON:-$root/.venv/bin/python}"
checkout="$(mktemp -d)"
trap 'git -C "$root" worktree remove --force "$checkout" >/dev/null 2>&1 || true' EXIT
git -C "$root" worktree add --detach --quiet "$checkout" "$base"
(cd "$checkout" && PYTHONPATH="$checkout" "$python" -m mlplat.cli synth --all --out "$root/build/graphs-before" >/dev/null)
(cd "$root" && PYTHONPATH="$root" "$python" -m mlplat.cli synth --all --out "$root/build/graphs-after" >/dev/null)
cd "$root" && PYTHONPATH="$root" "$python" -m mlplat.graph_diff build/graphs-before build/graphs-after "$@"
