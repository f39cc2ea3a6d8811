#!/usr/bin/env bash
# `asv check`: import the benchmark suite and validate every benchmark (names, params,
# setup signatures) without running one, in the current Python (--python=same), and fail
# if that left any trace in the working tree.
#
# asv writes into its results and environment folders even when it runs nothing, so it
# runs from a copy of asv.conf.json whose results, environments and HTML go to a
# temporary folder. Usage: .ci/asv_check.sh   (PYTHON=path/to/python to choose one)
set -euo pipefail

root=$(git rev-parse --show-toplevel)
cd "$root"
python=${PYTHON:-python}
export PYTHONDONTWRITEBYTECODE=1

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
before=$(git status --porcelain --untracked-files=all)

"$python" - "$root" "$tmp" <<'PY'
import json
import sys

from asv.util import load_json

root, tmp = sys.argv[1:]
conf = load_json(f"{root}/asv.conf.json", js_comments=True)
conf.update(
    repo=root,
    benchmark_dir=f"{root}/{conf.get('benchmark_dir', 'benchmarks')}",
    env_dir=f"{tmp}/env",
    results_dir=f"{tmp}/results",
    html_dir=f"{tmp}/html",
)
with open(f"{tmp}/asv.conf.json", "w") as f:
    json.dump(conf, f, indent=4)
PY

"$python" -m asv check --config "$tmp/asv.conf.json" --python=same

after=$(git status --porcelain --untracked-files=all)
if [[ "$before" != "$after" ]]; then
    echo "asv check changed the working tree:" >&2
    diff <(echo "$before") <(echo "$after") >&2 || true
    exit 1
fi
echo "asv check: ok, working tree unchanged"
