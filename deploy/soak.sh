#!/usr/bin/env bash
# `make soak`: create/delete cycles through the openstack CLI against the deployment of deploy/run.sh, then
# checks that nothing is left behind: no guest agent or database server processes, no instance directories, no
# live catalog rows, no guestagent.<id> RabbitMQ queues (for every instance the soak created), and the demo
# project's quota usage back to where it started (0 on a clean deployment).
# usage: deploy/soak.sh [CYCLES]   (default 100; SOAK_PARALLEL workers, default 2; SOAK_DATASTORES, default
#        "mariadb postgresql", used in turn). Runs deploy/run.sh first unless SOAK_SKIP_RUN=1.
# Prints one line per cycle and a summary "N passed, N failed" (the cycles, plus the leftover check as one more);
# exits non-zero if anything failed.
set -uo pipefail
DEPLOY_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=e2e/cli.sh
source "$DEPLOY_DIR/e2e/cli.sh"

CYCLES=${1:-${SOAK_CYCLES:-100}}
PARALLEL=${SOAK_PARALLEL:-2}
read -r -a DATASTORES <<<"${SOAK_DATASTORES:-mariadb postgresql}"
BUILD_TIMEOUT=${SOAK_BUILD_TIMEOUT:-300}
DELETE_TIMEOUT=${SOAK_DELETE_TIMEOUT:-180}
WORK=$(mktemp -d /tmp/trove-soak.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

[[ $(id -u) -eq 0 ]] || { echo "soak.sh: run as root (it reads /etc/trove and the process table)" >&2; exit 2; }
if [[ -z ${SOAK_SKIP_RUN:-} ]]; then
	bash "$DEPLOY_DIR/run.sh" >"$WORK/run.log" 2>&1 || { cat "$WORK/run.log" >&2; echo "soak.sh: deploy/run.sh failed" >&2; exit 1; }
fi
e2e_login "$E2E_ETC/openrc.demo" || exit 1
declare -A VERSION=()
for ds in "${DATASTORES[@]}"; do
	VERSION[$ds]=$(datastore_version "$ds")
	[[ -n ${VERSION[$ds]} ]] || { echo "soak.sh: datastore $ds has no version" >&2; exit 1; }
done

# quota_usage: "resource=in_use/reserved ..." of the demo project.
quota_usage() {
	trove_db -e "SELECT CONCAT(resource, '=', in_use, '/', reserved) FROM quota_usages
		WHERE tenant_id = '$E2E_PROJECT' ORDER BY resource" | tr '\n' ' '
}
USAGE_BEFORE=$(quota_usage)

# cycle N: one create → ACTIVE → delete → gone; appends the instance id to $WORK/ids; prints one line.
cycle() {
	local n=$1 ds=${DATASTORES[$(($1 % ${#DATASTORES[@]}))]} id s t0
	t0=$(now_ms)
	if ! id=$(create_instance "soak-$n" "$ds" "${VERSION[$ds]}" 2>"$WORK/err.$n"); then
		echo "cycle $n $ds FAIL create: $(tr '\n' ' ' <"$WORK/err.$n")"
		return 1
	fi
	echo "$id" >>"$WORK/ids"
	if ! s=$(wait_instance "$id" "$BUILD_TIMEOUT" 0.5 "$ACTIVE_RE" "$FAILED_RE") || [[ ! $s =~ $ACTIVE_RE ]]; then
		echo "cycle $n $ds $id FAIL not ACTIVE: $s"
		# The guest's log goes with the instance: show its end now.
		tail -n 5 "$E2E_INSTANCES/$id/guest.log" 2>/dev/null | sed "s/^/cycle $n guest.log: /"
		delete_instance "$id" 2>/dev/null || "$OPENSTACK" database instance delete --force "$id" >/dev/null 2>&1
		wait_instance "$id" "$DELETE_TIMEOUT" 1 '^GONE' >/dev/null
		return 1
	fi
	local active_ms=$(($(now_ms) - t0))
	if ! delete_instance "$id" 2>"$WORK/err.$n"; then
		echo "cycle $n $ds $id FAIL delete: $(tr '\n' ' ' <"$WORK/err.$n")"
		return 1
	fi
	if ! s=$(wait_instance "$id" "$DELETE_TIMEOUT" 0.5 '^GONE'); then
		echo "cycle $n $ds $id FAIL not gone: $s"
		return 1
	fi
	echo "cycle $n $ds $id ok (ACTIVE after ${active_ms} ms, gone after $(($(now_ms) - t0)) ms)"
}

worker() {
	local w=$1 n
	for ((n = w; n < CYCLES; n += PARALLEL)); do
		if cycle "$n"; then echo pass >>"$WORK/result.$w"; else echo fail >>"$WORK/result.$w"; fi
	done
}

T0=$(now_ms)
echo "soak: $CYCLES cycles, $PARALLEL at a time, datastores ${DATASTORES[*]}; quota usage before: $USAGE_BEFORE"
for ((w = 0; w < PARALLEL; w++)); do worker "$w" & done
wait
passed=$(cat "$WORK"/result.* 2>/dev/null | grep -c pass)
failed=$(cat "$WORK"/result.* 2>/dev/null | grep -c fail)

# --- leftovers of the instances this soak created ---------------------------------------------------------
leaks=()
mapfile -t IDS < <(sort -u "$WORK/ids" 2>/dev/null)
for id in "${IDS[@]}"; do
	[[ -e $E2E_INSTANCES/$id ]] && leaks+=("instance directory: $E2E_INSTANCES/$id")
done
# Processes: our guest agent binary or any process whose command line names an instance of this soak.
for p in /proc/[0-9]*; do
	cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
	for id in "${IDS[@]}"; do
		if [[ $cmd == *"$id"* ]]; then
			leaks+=("process: ${p#/proc/} ($(cat "$p/comm" 2>/dev/null)) $cmd")
		fi
	done
done
if ((${#IDS[@]})); then
	in_list=$(printf "'%s'," "${IDS[@]}")
	rows=$(trove_db -e "SELECT CONCAT(id, ' task=', task_id) FROM instances WHERE deleted = 0 AND id IN (${in_list%,})") ||
		leaks+=("catalog: query failed")
	[[ -n $rows ]] && while IFS= read -r r; do leaks+=("live catalog row: instances $r"); done <<<"$rows"
	queues=$(rabbitmqctl -q list_queues name 2>/dev/null) || leaks+=("RabbitMQ queue: rabbitmqctl list_queues failed")
	for id in "${IDS[@]}"; do
		grep -q "guestagent\.$id" <<<"$queues" && leaks+=("RabbitMQ queue: guestagent.$id")
	done
fi
USAGE_AFTER=$(quota_usage)
[[ $USAGE_AFTER == "$USAGE_BEFORE" ]] || leaks+=("quota usage: $USAGE_BEFORE before, $USAGE_AFTER after")
for r in $USAGE_AFTER; do
	[[ $r == *=0/0 ]] || echo "soak: note: quota usage $r is not 0 (instances from before the soak?)"
done

# Up to 10 leftovers of each kind, then a count.
declare -A shown=()
for l in "${leaks[@]}"; do
	kind=${l%%:*}
	shown[$kind]=$((${shown[$kind]:-0} + 1))
	((shown[$kind] <= 10)) && echo "LEFT BEHIND: $l"
done
for kind in "${!shown[@]}"; do
	((shown[$kind] > 10)) && echo "LEFT BEHIND: ... $((shown[$kind] - 10)) more of: $kind"
done
ms=$(($(now_ms) - T0))
echo "soak: ${#IDS[@]} instances created in $((ms / 1000)) s; quota usage after: $USAGE_AFTER"
if ((${#leaks[@]})); then
	echo "soak: leftover check FAILED: ${#leaks[@]} leftovers (counted as one failure below)"
	failed=$((failed + 1))
else
	echo "soak: leftover check passed: no processes, instance directories, live catalog rows or guest queues"
	passed=$((passed + 1))
fi
echo "$passed passed, $failed failed"
((failed == 0))
