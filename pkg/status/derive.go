package status

import "time"

// API `status` values (Trove's InstanceStatus).
const (
	StatusHealthy         = "HEALTHY"
	StatusActive          = "ACTIVE"
	StatusBlocked         = "BLOCKED"
	StatusBuild           = "BUILD"
	StatusFailed          = "FAILED"
	StatusReboot          = "REBOOT"
	StatusResize          = "RESIZE"
	StatusBackup          = "BACKUP"
	StatusShutdown        = "SHUTDOWN"
	StatusError           = "ERROR"
	StatusRestartRequired = "RESTART_REQUIRED"
	StatusPromote         = "PROMOTE"
	StatusEject           = "EJECT"
	StatusUpgrade         = "UPGRADE"
	StatusDetach          = "DETACH"
	StatusLogging         = "LOGGING"
	StatusUnknown         = "UNKNOWN"
)

// DefaultHeartbeatExpiry is Trove's agent_heartbeat_expiry default.
const DefaultHeartbeatExpiry = 90 * time.Second

// Guest applies the heartbeat-expiry override of states.md §2 to the stored guest status: with task NONE, a
// status other than RESTART_REQUIRED whose last heartbeat is at least expiry old reads as "guestagent error".
// heartbeatAge is now − service_statuses.updated_at (callers pass a huge age when updated_at is NULL).
func Guest(task InstanceTask, stored ServiceStatus, heartbeatAge, expiry time.Duration) (shown ServiceStatus, stale bool) {
	if task.Code == TaskNone.Code && !stored.Same(RestartRequired) && heartbeatAge >= expiry {
		return FailedTimeoutGuestagent, true
	}
	return stored, false
}

// Derive computes the API `status` and `operating_status` of an instance (states.md §2).
//
// serverStatus is Nova's server status as the API sees it (BUILD when the task action is BUILDING, SHUTDOWN when
// the server is gone). backupRunning says a live backup of the instance is NEW/BUILDING/SAVING.
//
// Deliberate difference from Trove: a stale heartbeat (see Guest) on an ACTIVE server with task NONE shows
// `status` SHUTDOWN instead of ACTIVE — the guest is not answering, so the database is not usable — while
// operating_status stays Trove's "ERROR" (guestagent error). Everything else follows Trove, except the LOGGING
// task, which shows LOGGING where Trove fails with a 500 (it references a missing constant).
func Derive(task InstanceTask, serverStatus string, svc ServiceStatus, backupRunning bool, heartbeatAge, expiry time.Duration) (status, operatingStatus string) {
	guest, stale := Guest(task, svc, heartbeatAge, expiry)
	if task.Code == TaskNone.Code && serverStatus == StatusActive {
		operatingStatus = guest.API
	}
	return shown(task, serverStatus, backupRunning, stale), operatingStatus
}

func shown(task InstanceTask, serverStatus string, backupRunning, stale bool) string {
	if task.IsError {
		return StatusError
	}
	switch task.Action {
	case TaskBuilding.Action:
		if serverStatus == StatusError {
			return StatusError
		}
		return StatusBuild
	case TaskRebooting.Action:
		return StatusReboot
	case TaskResizing.Action:
		return StatusResize
	case TaskUpgrading.Action:
		return StatusUpgrade
	case TaskRestartRequired.Action:
		return StatusRestartRequired
	case TaskPromoting.Action:
		return StatusPromote
	case TaskEjecting.Action:
		return StatusEject
	case TaskLogging.Action:
		return StatusLogging
	case TaskDetaching.Action:
		return StatusDetach
	case TaskDeleting.Action:
		switch serverStatus {
		case StatusActive, StatusShutdown, "DELETED":
			return StatusShutdown
		}
		return StatusError
	}
	if backupRunning {
		return StatusBackup
	}
	switch serverStatus {
	case StatusActive:
		if stale {
			return StatusShutdown
		}
		return StatusActive
	case StatusBuild, StatusError, StatusReboot, StatusResize, StatusShutdown:
		return serverStatus
	case "VERIFY_RESIZE":
		return StatusResize
	}
	return StatusUnknown
}

// ActionBlocker implements Trove's validate_can_perform_action: it returns ("", "") when instance actions
// (restart, resize, backup, detach, promote, …) may proceed, otherwise the status type and value for the 422
// message "Instance X is not currently available for an action to be performed (<type> status was <value>)."
// shownStatus is the instance's derived API status.
func ActionBlocker(task InstanceTask, serverStatus string, svc ServiceStatus, backupRunning bool, shownStatus string) (statusType, value string) {
	switch {
	case serverStatus != StatusActive && serverStatus != StatusHealthy:
		return "instance", serverStatus
	case task.Code != TaskNone.Code && task.Code != TaskRestartRequired.Code:
		return "task", task.Action
	case !svc.ActionsAllowed:
		return "instance", shownStatus
	case backupRunning:
		return "instance", StatusBackup
	}
	return "", ""
}
