# shellcheck shell=bash disable=SC2034 # variables here are used by the scripts that source this file
# Shared functions for the deploy/ scripts. Source it; do not execute it.
#
# Conventions: every script runs with `set -Eeuo pipefail`, announces each step with `step "name"`, and reports a
# failure as "step X failed: why — how to fix" (fail) — an unexpected command failure is reported the same way by
# the ERR trap with the command that failed. Secrets are generated once and persisted under $SECRETS_DIR (0600);
# they are never printed.

set -Eeuo pipefail
# `&` in ${var//pat/repl} replacements must stay literal (bash 5.2 default would expand it).
shopt -u patsub_replacement 2>/dev/null || true

DEPLOY_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$DEPLOY_DIR/.." && pwd)"
STATE_DIR="${TROVE_DEPLOY_STATE_DIR:-/var/lib/trove-deploy}"
SECRETS_DIR="$STATE_DIR/secrets"
RUN_DIR="/run/trove-deploy"
# The system python (the openstack/keystone libraries live there), not whatever python3 is first on PATH.
PYTHON=/usr/bin/python3
export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"

CURRENT_STEP="${CURRENT_STEP:-start}"
_STEP_T0=""

now_ms() { date +%s%3N; }

# log prints one line to stderr, prefixed with the script name.
log() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; }

# step announces a step; the previous one (if any) gets its elapsed time printed.
step() {
	step_done
	CURRENT_STEP="$1"
	_STEP_T0=$(now_ms)
	printf '==> %s\n' "$CURRENT_STEP" >&2
}

# step_done prints how long the current step took (called by step and at exit).
step_done() {
	if [[ -n "$_STEP_T0" ]]; then
		local ms=$(($(now_ms) - _STEP_T0))
		printf '    %s: %d.%03ds\n' "$CURRENT_STEP" $((ms / 1000)) $((ms % 1000)) >&2
		_STEP_T0=""
	fi
}

# fail WHY HOW: report the current step as failed and exit.
fail() {
	_STEP_T0=""
	printf 'step %s failed: %s — %s\n' "$CURRENT_STEP" "$1" "${2:-see the messages above}" >&2
	exit 1
}

_on_err() {
	local rc=$? cmd=$BASH_COMMAND
	trap - ERR
	_STEP_T0=""
	printf 'step %s failed: command `%s` exited %d (%s line %s) — see the messages above; re-run after fixing\n' \
		"$CURRENT_STEP" "$cmd" "$rc" "$(basename "${BASH_SOURCE[1]:-$0}")" "${BASH_LINENO[0]}" >&2
	exit "$rc"
}
trap _on_err ERR

need_root() {
	[[ $(id -u) -eq 0 ]] || fail "must run as root (it installs packages and starts system services)" "run it with sudo or as root"
	lock_deploy
}

# lock_deploy serializes the deploy scripts (two `make run`/`make test` at once would race on apt, configs and
# pid files). The lock is fd 9, inherited by the sub-scripts (TROVE_DEPLOY_LOCKED) and closed for the servers.
lock_deploy() {
	[[ -n "${TROVE_DEPLOY_LOCKED:-}" ]] && return 0
	install -d -m 0755 "$RUN_DIR"
	exec 9>"$RUN_DIR/lock"
	if ! flock -n 9; then
		log "waiting for another deploy script to finish (lock $RUN_DIR/lock)"
		flock -w 900 9 || fail "another deploy script held $RUN_DIR/lock for 15 minutes" "check: ps -ef | grep deploy/"
	fi
	export TROVE_DEPLOY_LOCKED=1
}

# has_systemd: true when systemd is PID 1 (then services are managed with systemctl).
has_systemd() {
	[[ -d /run/systemd/system && "$(cat /proc/1/comm 2>/dev/null)" == systemd ]]
}

# missing_packages PKG...: prints the packages that are not installed.
missing_packages() {
	local p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || printf '%s\n' "$p"
	done
}

_APT_UPDATED=""
# apt_install PKG...: installs the missing ones. Services are not started by the packages' maintainer scripts
# (a temporary policy-rc.d denies it) — the deploy scripts start what they need themselves, bound to loopback.
apt_install() {
	local missing
	missing=$(missing_packages "$@")
	[[ -z "$missing" ]] && return 0
	log "installing: $(echo "$missing" | tr '\n' ' ')"
	command -v apt-get >/dev/null || fail "apt-get not found" "this deployment supports Debian bookworm only"
	# `apt-get update` once: the stamp spans the sub-scripts of one run (and an hour).
	local stamp=$RUN_DIR/apt-updated
	if [[ -z "$_APT_UPDATED" && -z "$(find "$stamp" -mmin -60 2>/dev/null)" ]]; then
		apt-get update -q >&2 || fail "apt-get update failed" "check network access to the Debian mirrors and /etc/apt/sources.list"
		install -d -m 0755 "$RUN_DIR"
		touch "$stamp"
	fi
	_APT_UPDATED=1
	local own_policy=""
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 0755 /usr/sbin/policy-rc.d
		own_policy=1
	fi
	local rc=0
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=1200 install -y --no-install-recommends $missing >&2 || rc=$?
	[[ -n "$own_policy" ]] && rm -f /usr/sbin/policy-rc.d
	[[ $rc -eq 0 ]] || fail "apt-get install $(echo "$missing" | tr '\n' ' ')exited $rc" "read the apt output above; run 'dpkg --configure -a' if dpkg was interrupted"
}

# install_datastore_tools [PKG...]: the datastore servers the local driver offers (for their binaries: each instance
# runs its own server, so no system cluster is enabled), the clients and tools services and tests use (mariadb-backup: the MariaDB guest's backups;
# iptables: the root helper's per-instance access rules), and PKG.
install_datastore_tools() {
	local pg_was_missing
	pg_was_missing=$(missing_packages postgresql-15)
	apt_install postgresql-15 mariadb-client mariadb-backup iptables openssl curl procps python3-openstackclient python3-troveclient "$@"
	if [[ -n "$pg_was_missing" ]] && has_systemd; then
		systemctl disable --quiet postgresql 2>/dev/null || true
	fi
}

# port_open HOST PORT: true when something accepts TCP connections there.
port_open() {
	(exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# wait_for TIMEOUT_S DESCRIPTION CMD...: polls CMD every 0.5 s until it succeeds; fails the step on timeout.
wait_for() {
	local timeout=$1 what=$2
	shift 2
	local deadline=$(($(date +%s) + timeout))
	until "$@" >/dev/null 2>&1; do
		if (($(date +%s) >= deadline)); then
			log "timed out after ${timeout}s waiting for $what"
			return 1
		fi
		sleep 0.5
	done
}

# wait_port HOST PORT TIMEOUT_S
wait_port() {
	wait_for "$3" "$1:$2" port_open "$1" "$2"
}

# random_secret: 32 hex characters from the kernel's CSPRNG.
random_secret() {
	od -An -N16 -tx1 /dev/urandom | tr -d ' \n'
}

# secret NAME: prints the persisted secret NAME, generating it on first use (0600, root only).
secret() {
	local f="$SECRETS_DIR/$1"
	if [[ ! -s "$f" ]]; then
		install -d -m 0700 "$SECRETS_DIR"
		(umask 077 && random_secret >"$f.tmp" && mv "$f.tmp" "$f")
	fi
	cat "$f"
}

# write_if_changed FILE MODE OWNER:GROUP: writes stdin to FILE only when the content differs.
# Returns 0 when the file changed, 1 when it was already up to date.
write_if_changed() {
	local file=$1 mode=$2 owner=$3 tmp
	tmp=$(mktemp "${file}.XXXXXX")
	cat >"$tmp"
	if [[ -f "$file" ]] && cmp -s "$tmp" "$file"; then
		rm -f "$tmp"
		chmod "$mode" "$file"
		chown "$owner" "$file"
		return 1
	fi
	chmod "$mode" "$tmp"
	chown "$owner" "$tmp"
	mv "$tmp" "$file"
	return 0
}

# pid_alive PIDFILE: true when the pid file names a running process.
pid_alive() {
	local pid
	[[ -s "$1" ]] || return 1
	pid=$(cat "$1" 2>/dev/null) || return 1
	[[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
	# After a restart of the machine that kept /run (a container), the number may name another process: ours
	# started before its pid file was written, a reused number after.
	local etimes
	etimes=$(ps -o etimes= -p "$pid" 2>/dev/null) || return 1
	(($(date +%s) - etimes <= $(stat -c %Y "$1") + 5))
}

# all_gone PID...: true when none of the processes exists any more.
all_gone() {
	local p
	for p in "$@"; do
		kill -0 "$p" 2>/dev/null && return 1
	done
	return 0
}

# start_detached LOGFILE CMD...: runs CMD in its own session, stdin closed, output appended to LOGFILE.
start_detached() {
	local logfile=$1
	shift
	setsid "$@" </dev/null >>"$logfile" 2>&1 9>&- &
	disown || true
}

# usage_actions "install|start|stop|status" — common dispatcher error.
usage() {
	echo "usage: $(basename "$0") {$1}" >&2
	exit 2
}
trap 'step_done' EXIT

# write_managed FILE MODE OWNER:GROUP: like write_if_changed, for files an operator may edit afterwards. The hash
# of what we last wrote is remembered; a file whose content no longer matches it was edited by hand and is kept
# (with a warning naming the generated version, FILE.new). Returns 0 when the file changed, 1 otherwise.
write_managed() {
	local file=$1 mode=$2 owner=$3 mark tmp
	mark="$STATE_DIR/written/$(echo "$file" | tr / _).sha256"
	install -d -m 0700 "$STATE_DIR/written"
	tmp=$(mktemp "${file}.XXXXXX")
	cat >"$tmp"
	if [[ -f "$file" && -s "$mark" ]] && [[ "$(sha256sum <"$file" | cut -d' ' -f1)" != "$(cat "$mark")" ]]; then
		if cmp -s "$tmp" "$file"; then
			rm -f "$tmp"
			sha256sum <"$file" | cut -d' ' -f1 >"$mark"
			return 1
		fi
		chmod "$mode" "$tmp"
		chown "$owner" "$tmp"
		mv "$tmp" "$file.new"
		log "kept $file: edited by hand; the generated version is $file.new (remove $file to regenerate)"
		return 1
	fi
	local rc=1
	if [[ -f "$file" ]] && cmp -s "$tmp" "$file"; then
		rm -f "$tmp"
	else
		chmod "$mode" "$tmp"
		chown "$owner" "$tmp"
		mv "$tmp" "$file"
		rc=0
	fi
	chmod "$mode" "$file"
	chown "$owner" "$file"
	sha256sum <"$file" | cut -d' ' -f1 >"$mark"
	return $rc
}
