#!/usr/bin/env bash
# `make bench`: the benchmarks of every module against the real test servers (deploy/test-env.sh first).
# BENCH (default .) selects benchmarks, BENCHTIME (default 1s) their duration; results are printed and kept in
# bin/bench.txt (compare runs with benchstat). BENCH_BASELINE (a commit; default 2074e43, the tree before the
# instance list moved into the catalog layer) builds that commit's trove-api, and BenchmarkAPI runs it side by side
# with this build in the same run (impl=baseline / impl=head); BENCH_BASELINE= (empty) skips it.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

read -r -a MODULES <<<"${MODULES:-pkg db services/api services/taskmanager services/conductor services/guestagent}"
GO=${GO:-/usr/local/go/bin/go}
OUT="$REPO/bin/bench.txt"

bash "$DEPLOY_DIR/test-env.sh"
set -a
# shellcheck source=/dev/null
source "$REPO/.test.env"
set +a

mkdir -p "$(dirname "$OUT")"
BASELINE=${BENCH_BASELINE-2074e43}
if [[ -n "$BASELINE" ]]; then
	step "baseline trove-api from $BASELINE"
	wt=$(mktemp -d /tmp/trove-bench-baseline.XXXXXX)
	git -C "$REPO" worktree add --detach "$wt" "$BASELINE" >/dev/null 2>&1 ||
		fail "cannot check out $BASELINE" "pass BENCH_BASELINE=<a commit of this repository>, or BENCH_BASELINE= to skip the baseline"
	(cd "$wt/services/api" && "$GO" build -o "$REPO/bin/baseline/trove-api" ./cmd/trove-api) ||
		fail "building trove-api at $BASELINE failed" "see the output above"
	git -C "$REPO" worktree remove --force "$wt"
	export TROVE_BENCH_BASELINE_BIN=$REPO/bin/baseline/trove-api
	step_done
fi
: >"$OUT"
for m in "${MODULES[@]}"; do
	step "benchmarks: $m"
	(cd "$REPO/$m" && "$GO" test -run '^$' -bench "${BENCH:-.}" -benchtime "${BENCHTIME:-1s}" -benchmem -count=1 ./...) |
		tee -a "$OUT" || fail "benchmarks of $m failed" "see the output above"
done
step_done
log "results in $OUT"
