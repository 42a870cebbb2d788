#!/usr/bin/env bash
# supervise.sh PIDFILE LOGFILE CMD...: runs CMD with its output appended to LOGFILE and restarts it when it fails
# (like systemd's Restart=on-failure, with a growing delay up to 30 s). SIGTERM/SIGINT stop CMD and the supervisor.
# Used by deploy/run.sh when systemd is not PID 1; PIDFILE holds the supervisor's pid.
set -u
pidfile=$1 logfile=$2
shift 2
name=$(basename "$1")
child=""
sleeper=""
stopping=""
trap 'stopping=1; kill -TERM $child $sleeper 2>/dev/null' TERM INT
echo $$ >"$pidfile"
delay=1
while [[ -z "$stopping" ]]; do
	started=$(date +%s)
	"$@" >>"$logfile" 2>&1 &
	child=$!
	rc=0
	wait "$child" || rc=$?
	# A trapped signal interrupts wait; wait again until the child is really gone.
	while kill -0 "$child" 2>/dev/null; do wait "$child" || rc=$?; done
	child=""
	[[ -n "$stopping" ]] && break
	if ((rc == 0)); then
		echo "$(date -u +%FT%TZ) supervise: $name exited cleanly; not restarting" >>"$logfile"
		break
	fi
	(($(date +%s) - started > 60)) && delay=1
	echo "$(date -u +%FT%TZ) supervise: $name exited with status $rc; restarting in ${delay}s" >>"$logfile"
	sleep "$delay" &
	sleeper=$!
	wait "$sleeper" || true
	kill "$sleeper" 2>/dev/null || true
	sleeper=""
	delay=$((delay < 30 ? delay * 2 : 30))
done
rm -f "$pidfile"
