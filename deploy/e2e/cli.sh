# shellcheck shell=bash
# Shared by deploy/soak.sh and deploy/bench-create.sh: drive a running deployment (deploy/run.sh) as the demo
# tenant. Instances are created and deleted with the openstack CLI; status polls go straight to the API with curl
# and a Keystone token (the CLI costs ~1.5 s of Python per call, which would dominate the timings).
# Source it; it does not set shell options.

E2E_ETC=/etc/trove
E2E_API=https://127.0.0.1:8779
E2E_INSTANCES=/var/lib/trove/local/instances
OPENSTACK=/usr/bin/openstack
export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"

now_ms() { date +%s%3N; }

# e2e_login OPENRC: exports the openrc variables, a token (E2E_TOKEN) and its project (E2E_PROJECT).
e2e_login() {
	local rc=$1 tok
	[[ -r $rc ]] || { echo "missing $rc: run deploy/run.sh (make run) first" >&2; return 1; }
	while IFS= read -r v; do unset "$v"; done < <(compgen -e | grep '^OS_' || true)
	set -a
	# shellcheck disable=SC1090
	source "$rc"
	set +a
	tok=$("$OPENSTACK" token issue -f json) || { echo "openstack token issue failed" >&2; return 1; }
	E2E_TOKEN=$(jq -r .id <<<"$tok")
	E2E_PROJECT=$(jq -r .project_id <<<"$tok")
}

# api_get PATH: GET $E2E_API/v1.0/<project>PATH; prints the body, then a last line with the HTTP code.
api_get() {
	curl -sS --max-time 10 --cacert "$OS_CACERT" -H "X-Auth-Token: $E2E_TOKEN" -w '\n%{http_code}' \
		"$E2E_API/v1.0/$E2E_PROJECT$1"
}

# instance_status ID: prints "STATUS OPERATING_STATUS ADDRESS", or "GONE" after a 404, or "?" when unknown.
instance_status() {
	local out code
	out=$(api_get "/instances/$1") || { echo "?"; return; }
	code=${out##*$'\n'}
	case $code in
	200) jq -r '.instance | "\(.status) \(.operating_status // "-") \((.addresses // [])[0].address // (.ip // [])[0] // "-")"' <<<"${out%$'\n'*}" ;;
	404) echo GONE ;;
	*) echo "? HTTP $code" ;;
	esac
}

# wait_instance ID TIMEOUT_S INTERVAL_S PATTERN...: polls until the status line matches one of the extended
# regular expressions; prints the last status line; fails on timeout.
wait_instance() {
	local id=$1 timeout=$2 interval=$3 deadline s p
	shift 3
	deadline=$(($(date +%s) + timeout))
	while :; do
		s=$(instance_status "$id")
		for p in "$@"; do
			if [[ $s =~ $p ]]; then
				echo "$s"
				return 0
			fi
		done
		if (($(date +%s) >= deadline)); then
			echo "$s"
			return 1
		fi
		sleep "$interval"
	done
}

# instance_lines: one line "ID STATUS OPERATING_STATUS ADDRESS" per instance of the project, following the
# list's pagination (Trove pages at 20).
instance_lines() {
	local marker="" body
	while :; do
		body=$(api_get "/instances${marker:+?marker=$marker}" | sed '$d') || return 1
		jq -r '.instances[] | "\(.id) \(.status) \(.operating_status // "-") \((.addresses // [])[0].address // (.ip // [])[0] // "-")"' <<<"$body"
		marker=$(jq -r '(.links // [])[] | select(.rel == "next") | .href | capture("marker=(?<m>[^&]+)").m' <<<"$body" 2>/dev/null | head -n 1)
		[[ -n $marker ]] || return 0
	done
}

# ACTIVE: a running database (operating status HEALTHY or ACTIVE) with an address; ERROR/FAILED end the wait.
# shellcheck disable=SC2034 # used by the scripts that source this file
ACTIVE_RE='^ACTIVE (HEALTHY|ACTIVE) [0-9]'
# shellcheck disable=SC2034
FAILED_RE='^(ERROR|FAILED) '

# create_instance NAME DATASTORE VERSION [ARGS...]: prints the new instance id.
create_instance() {
	local name=$1 ds=$2 ver=$3
	shift 3
	"$OPENSTACK" database instance create "$name" --flavor "${E2E_FLAVOR:-2}" --size 1 --datastore "$ds" \
		--datastore-version "$ver" "$@" -f value -c id
}

# api_create NAME DATASTORE VERSION: POST /instances with the body `openstack database instance create` sends
# (flavor $E2E_FLAVOR or 2, 1 GB volume, the network $E2E_NIC when set); prints the new instance id.
api_create() {
	local body out code
	body=$(jq -nc --arg n "$1" --arg ds "$2" --arg v "$3" --arg f "${E2E_FLAVOR:-2}" --arg nic "${E2E_NIC:-}" \
		'{instance: ({name: $n, flavorRef: $f, volume: {size: 1, type: null}, datastore: {type: $ds, version: $v}}
		  + if $nic == "" then {} else {nics: [{"net-id": $nic}]} end)}')
	out=$(curl -sS --max-time 60 --cacert "$OS_CACERT" -H "X-Auth-Token: $E2E_TOKEN" -H 'Content-Type: application/json' \
		-d "$body" -w '\n%{http_code}' "$E2E_API/v1.0/$E2E_PROJECT/instances") || return 1
	code=${out##*$'\n'}
	if [[ $code != 200 ]]; then
		echo "HTTP $code: ${out%$'\n'*}" >&2
		return 1
	fi
	jq -r .instance.id <<<"${out%$'\n'*}"
}

# datastore_version DATASTORE: the first registered version.
datastore_version() { "$OPENSTACK" datastore version list "$1" -f value -c Name | head -n 1; }

# delete_instance ID: openstack database instance delete (quiet).
delete_instance() { "$OPENSTACK" database instance delete "$1" >/dev/null; }

# trove_db: runs mariadb on the catalog with the credentials of [database] connection in trove.conf.
trove_db() {
	local url userpass rest
	url=$(sed -n 's/^connection *= *//p' "$E2E_ETC/trove.conf" | head -n 1)
	url=${url#*://}
	userpass=${url%%@*}
	rest=${url#*@}
	MYSQL_PWD=${userpass#*:} mariadb -h "${rest%%/*}" -u "${userpass%%:*}" -N -B trove "$@"
}

# guest_rss_kb ID: VmRSS (kB) of the instance's guest agent (pid from <instance dir>/guest.pid), empty if none.
guest_rss_kb() {
	local pid
	pid=$(awk '{print $1; exit}' "$E2E_INSTANCES/$1/guest.pid" 2>/dev/null) || return 0
	if [[ -n $pid ]]; then awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null; fi
}

# percentile P VALUES...: nearest-rank percentile of integers.
percentile() {
	local p=$1
	shift
	printf '%s\n' "$@" | sort -n | awk -v p="$p" '{v[NR]=$1} END {i=int((p*NR+99)/100); if (i<1) i=1; print v[i]}'
}
