#!/usr/bin/env bash
# `make stop`: stops what deploy/run.sh started — trove-api, trove-taskmanager, trove-conductor.
# usage: stop.sh [--all] [--quiet] [SERVICE...]
#   --all      also the local guest agents (and their database servers), Keystone, RabbitMQ and MariaDB
#   SERVICE    only these (trove-api, trove-taskmanager, trove-conductor)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PID_DIR=/run/trove
all="" quiet=""
services=()
for a in "$@"; do
	case $a in
	--all) all=1 ;;
	--quiet) quiet=1 ;;
	trove-api | trove-taskmanager | trove-conductor) services+=("$a") ;;
	*) echo "usage: $(basename "$0") [--all] [--quiet] [trove-api|trove-taskmanager|trove-conductor ...]" >&2; exit 2 ;;
	esac
done
((${#services[@]})) || services=(trove-api trove-taskmanager trove-conductor)
say() { [[ -n "$quiet" ]] || log "$@"; }

need_root
[[ -n "$quiet" ]] || step "stop trove services"
# SIGTERM to every supervisor first (each forwards it to its service and removes its pid file), then wait.
declare -A stopping=()
for s in "${services[@]}"; do
	if has_systemd && systemctl cat "$s" >/dev/null 2>&1; then
		systemctl stop "$s"
		say "stopped $s"
		continue
	fi
	pidfile=$PID_DIR/$s.pid
	if ! pid_alive "$pidfile"; then
		say "$s is not running"
		continue
	fi
	stopping[$s]=$(cat "$pidfile")
	kill -TERM "${stopping[$s]}"
done
for s in "${!stopping[@]}"; do
	pid=${stopping[$s]}
	if ! wait_for 30 "$s to stop" all_gone "$pid"; then
		mapfile -t children < <(pgrep -P "$pid" || true)
		kill -KILL "${children[@]}" "$pid" 2>/dev/null || true
		say "$s did not stop within 30 s: killed"
	fi
	rm -f "$PID_DIR/$s.pid"
	say "stopped $s"
done

if [[ -n "$all" ]]; then
	step "stop local guest agents"
	# Exactly the processes running our guest agent binary (each stops its own database server on SIGTERM).
	pids=()
	for exe in /proc/[0-9]*/exe; do
		# " (deleted)": the binary was replaced by a newer make run while the guest kept running.
		case "$(readlink "$exe" 2>/dev/null)" in
		/usr/local/bin/trove-guestagent | "/usr/local/bin/trove-guestagent (deleted)")
			pids+=("$(basename "$(dirname "$exe")")") ;;
		esac
	done
	if ((${#pids[@]})); then
		kill -TERM "${pids[@]}" 2>/dev/null || true
		wait_for 60 "guest agents to stop" all_gone "${pids[@]}" || log "some guest agents still run: ${pids[*]}"
		log "stopped ${#pids[@]} guest agent(s)"
	fi
	bash "$DEPLOY_DIR/keystone.sh" stop
	bash "$DEPLOY_DIR/rabbitmq.sh" stop
	bash "$DEPLOY_DIR/mariadb.sh" stop
fi
