#!/usr/bin/env bash
# The commits of a branch (default: main) worth benchmarking with asv: those that change
# something besides asv's stored results and documentation. A commit that only adds results
# (results/) or edits docs (docs/, *.md) measures nothing new, so it is left out.
# Usage: .ci/asv_commits.sh [BRANCH] > commits.txt && asv run HASHFILE:commits.txt
set -euo pipefail
git log --format=%H "${1:-main}" -- . ':(exclude)results' ':(exclude)docs' ':(exclude)*.md'
