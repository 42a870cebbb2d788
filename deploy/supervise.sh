#!/usr/bin/env bash
# supervise.sh PIDFILE LOGFILE CMD...: runs CMD with its output appended to LOGFILE and restarts it when it fails
# (like systemd's Restart=on-failure, with a growing delay up to 30 s). Used by deploy/run.sh when systemd is not
# PID 1; PIDFILE holds the supervisor's pid, and `kill $(cat PIDFILE)` stops CMD and the supervisor for good:
# - SIGTERM/SIGINT/SIGHUP to the supervisor are forwarded to CMD (SIGTERM) and nothing is restarted;
# - CMD gets SIGTERM when the supervisor dies in any other way (kill -9 included: parent-death signal), so it
#   never runs unsupervised;
# - CMD that exits 0 or is ended by SIGTERM/SIGINT/SIGHUP (`kill <its pid>`) is not restarted either.
set -u
pidfile=$1 logfile=$2
shift 2
name=$(basename "$1")
child=""
sleeper=""
stopping=""
trap 'stopping=1; kill -TERM $child $sleeper 2>/dev/null' TERM INT HUP
echo $$ >"$pidfile"
pdeath=(setpriv --pdeathsig TERM)
"${pdeath[@]}" true 2>/dev/null || pdeath=()
delay=1
while [[ -z "$stopping" ]]; do
	started=$(date +%s)
	"${pdeath[@]}" "$@" >>"$logfile" 2>&1 &
	child=$!
	# A signal that came while starting (the trap saw no child) still stops it.
	[[ -n "$stopping" ]] && kill -TERM "$child" 2>/dev/null
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
	if ((rc == 129 || rc == 130 || rc == 143)); then
		echo "$(date -u +%FT%TZ) supervise: $name was stopped by signal $((rc - 128)); not restarting" >>"$logfile"
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
if [[ "$(cat "$pidfile" 2>/dev/null)" == "$$" ]]; then rm -f "$pidfile"; fi
