#!/usr/bin/env bash
# Prints the state of everything `make run` manages; exit status 0 when all of it runs.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
trap - EXIT

PID_DIR=/run/trove
rc=0
for s in mariadb rabbitmq keystone; do
	bash "$DEPLOY_DIR/$s.sh" status 2>/dev/null || rc=1
done
for s in trove-api trove-taskmanager trove-conductor; do
	if has_systemd && systemctl cat "$s" >/dev/null 2>&1; then
		state=$(systemctl is-active "$s" || true)
	elif pid_alive "$PID_DIR/$s.pid" && pgrep -P "$(cat "$PID_DIR/$s.pid")" >/dev/null; then
		state="running (pid $(pgrep -P "$(cat "$PID_DIR/$s.pid")" | head -n 1), log /var/log/trove/$s.log)"
	elif pid_alive "$PID_DIR/$s.pid"; then
		state="restarting (see /var/log/trove/$s.log)"
	else
		state=stopped
	fi
	[[ $state == running* || $state == active ]] || rc=1
	echo "$s: $state"
done
if [[ -s /etc/trove/ssl/ca.crt ]]; then
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert /etc/trove/ssl/ca.crt https://127.0.0.1:8779/healthcheck || true)
	echo "https://127.0.0.1:8779/healthcheck: HTTP $code"
	[[ $code == 200 ]] || rc=1
fi
exit $rc
