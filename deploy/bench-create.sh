#!/usr/bin/env bash
# Create-time benchmark against the deployment of deploy/run.sh (for `make bench`):
#   1. 10 MariaDB instances one after another, 2. 20 at once.
# For each: milliseconds from the create request (POST /instances with the body the openstack CLI sends, via curl:
# 20 Python CLIs at once on 2 cores would measure the interpreter, ~1.5 s of CPU each) to the API showing ACTIVE
# with a running database and an address (polled every 100 ms), the create request alone, and the guest agent's
# VmRSS when ACTIVE.
# Targets: create → ACTIVE p50 < 5 s; guest agent RSS < 20 MB. Exits non-zero only if an instance failed.
# Env: BENCH_SEQUENTIAL (10), BENCH_CONCURRENT (20; 10 on openstack), BENCH_DATASTORE (mariadb), BENCH_SKIP_RUN=1 to
# skip run.sh, BENCH_COMPUTE=openstack: the same on the openstack driver (the test bed; instances on its shared
# network), with the requests the taskmanager made to each OpenStack service and to Keystone per create, and the
# taskmanager's RSS.
# Raises the demo project's instance quota for the concurrent phase (as admin) and restores it afterwards.
set -uo pipefail
DEPLOY_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=e2e/cli.sh
source "$DEPLOY_DIR/e2e/cli.sh"

COMPUTE=${BENCH_COMPUTE:-local}
SEQ=${BENCH_SEQUENTIAL:-10}
CONC=${BENCH_CONCURRENT:-20}
[[ $COMPUTE == openstack ]] && CONC=${BENCH_CONCURRENT:-10}
DS=${BENCH_DATASTORE:-mariadb}
WORK=$(mktemp -d /tmp/trove-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

[[ $(id -u) -eq 0 ]] || { echo "bench-create.sh: run as root" >&2; exit 2; }
if [[ -z ${BENCH_SKIP_RUN:-} ]]; then
	COMPUTE=$COMPUTE bash "$DEPLOY_DIR/run.sh" >"$WORK/run.log" 2>&1 || { cat "$WORK/run.log" >&2; echo "bench-create.sh: deploy/run.sh failed" >&2; exit 1; }
fi
TM_LOG=/var/log/trove/trove-taskmanager.log
if [[ $COMPUTE == openstack ]]; then
	E2E_NIC=$(sed -n 's/^TESTBED_SHARED_NETWORK_ID=//p' /var/lib/trove-openstack/testbed.env)
	export E2E_NIC
	[[ -n $E2E_NIC ]] || { echo "bench-create.sh: the test bed's shared network is unknown (bash deploy/openstack.sh start)" >&2; exit 1; }
fi
# cloud_requests: the openstack driver's cumulative request counts of the taskmanager's last finished flow.
cloud_requests() { grep -o 'cloud_requests="map\[[^]]*\]"' "$TM_LOG" 2>/dev/null | tail -n 1 | sed 's/.*map\[//; s/\]"//'; }
# tm_rss_kb: VmRSS of the taskmanager (the supervised child).
tm_rss_kb() {
	local sup child
	sup=$(cat /run/trove/trove-taskmanager.pid 2>/dev/null) || return 0
	child=$(pgrep -P "$sup" | head -n 1)
	[[ -n $child ]] && awk '/^VmRSS:/ {print $2}' "/proc/$child/status"
}
REQ_BEFORE=$(cloud_requests)

# Quota (admin CLI): the concurrent phase needs CONC instances in the demo project.
e2e_login "$E2E_ETC/openrc.demo" || exit 1
PROJECT=$E2E_PROJECT
admin() { env -u OS_CACERT bash -c 'set -a; source '"$E2E_ETC"'/openrc.admin; set +a; exec "$@"' admin "$@"; }
QUOTA=$(admin "$OPENSTACK" database quota show "$PROJECT" -f json)
OLD_LIMIT=$(jq -r '.[] | select(.Resource == "instances") | .Limit' <<<"$QUOTA")
IN_USE=$(jq -r '.[] | select(.Resource == "instances") | .["In Use"] // 0' <<<"$QUOTA")
if [[ -n $OLD_LIMIT && $OLD_LIMIT != null && $OLD_LIMIT -ge 0 && $OLD_LIMIT -lt $((CONC + IN_USE)) ]]; then
	admin "$OPENSTACK" database quota update "$PROJECT" instances $((CONC + IN_USE)) >/dev/null ||
		{ echo "raising the instance quota failed" >&2; exit 1; }
	trap 'admin "$OPENSTACK" database quota update "$PROJECT" instances "$OLD_LIMIT" >/dev/null; rm -rf "$WORK"' EXIT
fi
VERSION=$(datastore_version "$DS")
[[ -n $VERSION ]] || { echo "datastore $DS has no version" >&2; exit 1; }

# create_one NAME OUT: sends the create request and writes "id t0 t1" (request start and end, ms) to OUT, or
# "FAIL - create: <error>".
create_one() {
	local t0 id
	t0=$(now_ms)
	if id=$(api_create "$1" "$DS" "$VERSION" 2>"$2.err"); then
		echo "$id $t0 $(now_ms)" >"$2"
	else
		echo "FAIL - create: $(tr '\n' ' ' <"$2.err")" >"$2"
	fi
}

# await FILES...: one poller for all of them (GET /instances every 200 ms: N pollers would load the 2 cores
# they measure). Rewrites each file to "ms request_ms rss_kb id" once ACTIVE, or "FAIL id status".
await() {
	local deadline=$(($(date +%s) + 300)) f id t0 t1 line st op addr now
	declare -A start=() req=() file=()
	for f in "$@"; do
		read -r id t0 t1 <"$f"
		[[ $id == FAIL ]] && continue
		start[$id]=$t0 req[$id]=$((t1 - t0)) file[$id]=$f
	done
	while ((${#file[@]})); do
		now=$(now_ms)
		while read -r id st op addr; do
			[[ -n ${file[$id]:-} ]] || continue
			line="$st $op $addr"
			# The list view may omit addresses; the show view has them.
			[[ $line == "ACTIVE "* && $addr == - ]] && line=$(instance_status "$id")
			if [[ $line =~ $ACTIVE_RE ]]; then
				echo "$((now - start[$id])) ${req[$id]} $(guest_rss_kb "$id") $id" >"${file[$id]}"
				unset "file[$id]"
			elif [[ $line =~ $FAILED_RE ]]; then
				echo "FAIL $id $line" >"${file[$id]}"
				unset "file[$id]"
			fi
		done < <(instance_lines)
		if (($(date +%s) >= deadline)); then
			for id in "${!file[@]}"; do echo "FAIL $id not ACTIVE after 300 s: $(instance_status "$id")" >"${file[$id]}"; done
			break
		fi
		sleep 0.2
	done
}

# phase_report NAME FILES...: prints the statistics of a phase.
phase_report() {
	local name=$1 f a b c d times=() creates=() rss=() fails=0
	shift
	for f in "$@"; do
		read -r a b c d <"$f"
		if [[ $a == FAIL ]]; then
			fails=$((fails + 1))
			echo "  FAILED: $(cat "$f")"
			continue
		fi
		times+=("$a") creates+=("$b")
		[[ -n $d ]] && rss+=("$c") # an empty RSS shifts the id into its column
	done
	if ((${#times[@]})); then
		printf '%s: create → ACTIVE p50 %d ms, max %d ms (n=%d, failed %d); the create request alone p50 %d ms\n' \
			"$name" "$(percentile 50 "${times[@]}")" "$(percentile 100 "${times[@]}")" "${#times[@]}" "$fails" \
			"$(percentile 50 "${creates[@]}")"
	else
		echo "$name: every create failed ($fails)"
	fi
	if ((${#rss[@]})); then
		printf '%s: guest agent VmRSS p50 %d kB, max %d kB\n' "$name" "$(percentile 50 "${rss[@]}")" "$(percentile 100 "${rss[@]}")"
	fi
	printf '%s\n' "${rss[@]}" >>"$WORK/all_rss"
	FAILS=$((FAILS + fails))
	LAST_P50=$( ((${#times[@]})) && percentile 50 "${times[@]}")
}

# delete_all FILES...: deletes the instances of these result files and waits until they are gone.
delete_all() {
	local f ids=() id
	for f in "$@"; do
		id=$(awk '{print ($1 == "FAIL") ? $2 : $NF}' "$f")
		[[ $id =~ ^[0-9a-f-]{36}$ ]] && ids+=("$id")
	done
	for id in "${ids[@]}"; do delete_instance "$id" 2>/dev/null & done
	wait
	for id in "${ids[@]}"; do
		wait_instance "$id" 180 0.5 '^GONE' >/dev/null || echo "  instance $id not gone after 180 s"
	done
}

FAILS=0
echo "bench-create: $COMPUTE driver, datastore $DS $VERSION; $SEQ sequential, then $CONC at once"
files=()
for ((i = 0; i < SEQ; i++)); do
	create_one "bench-seq-$i" "$WORK/seq.$i"
	await "$WORK/seq.$i"
	files+=("$WORK/seq.$i")
	delete_all "$WORK/seq.$i" # before the next create, so each one runs on an idle system
done
phase_report "sequential" "${files[@]}"
SEQ_P50=$LAST_P50

files=()
for ((i = 0; i < CONC; i++)); do
	create_one "bench-conc-$i" "$WORK/conc.$i" &
	files+=("$WORK/conc.$i")
done
wait
await "${files[@]}"
phase_report "concurrent ($CONC at once)" "${files[@]}"
delete_all "${files[@]}"

if [[ $COMPUTE == openstack ]]; then
	# Per create (and its delete): the counters' growth over the whole run divided by the instances made.
	echo "taskmanager VmRSS after the run: $(tm_rss_kb) kB"
	REQ_AFTER=$(cloud_requests)
	awk -v before="$REQ_BEFORE" -v after="$REQ_AFTER" -v n=$((SEQ + CONC)) 'BEGIN {
		split(before, b, " "); for (i in b) { split(b[i], kv, ":"); was[kv[1]] = kv[2] }
		split(after, a, " "); line = ""
		for (i in a) { split(a[i], kv, ":"); line = line sprintf(" %s %.1f", kv[1], (kv[2] - was[kv[1]]) / n) }
		print "cloud requests per create+delete:" line }'
fi
mapfile -t allrss < <(grep -v '^$' "$WORK/all_rss")
rssmax=$( ((${#allrss[@]})) && percentile 100 "${allrss[@]}")
verdict() { if [[ -n $1 ]] && (($1 < $2)); then echo met; else echo MISSED; fi; }
echo "target create → ACTIVE p50 < 5000 ms: sequential p50 ${SEQ_P50:-?} ms — $(verdict "$SEQ_P50" 5000)"
echo "target guest agent RSS < 20480 kB: max ${rssmax:-?} kB — $(verdict "$rssmax" 20480)"
exit $((FAILS > 0))
