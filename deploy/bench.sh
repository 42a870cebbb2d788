#!/usr/bin/env bash
# `make bench`: the benchmarks of every module against the real test servers (deploy/test-env.sh first).
# BENCH (default .) selects benchmarks, BENCHTIME (default 1s) their duration; results are printed and kept in
# bin/bench.txt (compare runs with benchstat).
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
: >"$OUT"
for m in "${MODULES[@]}"; do
	step "benchmarks: $m"
	(cd "$REPO/$m" && "$GO" test -run '^$' -bench "${BENCH:-.}" -benchtime "${BENCHTIME:-1s}" -benchmem -count=1 ./...) |
		tee -a "$OUT" || fail "benchmarks of $m failed" "see the output above"
done
step_done
log "results in $OUT"
