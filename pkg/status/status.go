// Package status holds Trove's instance task and guest service status enumerations (states.md §1) and derives the
// `status` / `operating_status` pair the API shows (states.md §2). Values match Trove's catalog rows exactly:
// task_id/task_description and status_id/status_description are always written together from one of these.
package status

// InstanceTask is one row of Trove's InstanceTasks (instances.task_id / task_description).
type InstanceTask struct {
	Code    int
	Action  string
	DBText  string
	IsError bool
}

// Instance tasks, named after Trove's InstanceTasks members.
var (
	TaskNone                   = InstanceTask{1, "NONE", "No tasks for the instance.", false}
	TaskDeleting               = InstanceTask{2, "DELETING", "Deleting the instance.", false}
	TaskRebooting              = InstanceTask{3, "REBOOTING", "Rebooting the instance.", false}
	TaskResizing               = InstanceTask{4, "RESIZING", "Resizing the instance.", false}
	TaskBuilding               = InstanceTask{5, "BUILDING", "The instance is building.", false}
	TaskMigrating              = InstanceTask{6, "MIGRATING", "Migrating the instance.", false}
	TaskRestartRequired        = InstanceTask{7, "RESTART_REQUIRED", "Instance requires a restart.", false}
	TaskPromoting              = InstanceTask{8, "PROMOTING", "Promoting the instance to replica source.", false}
	TaskEjecting               = InstanceTask{9, "EJECTING", "Ejecting the replica source.", false}
	TaskLogging                = InstanceTask{10, "LOGGING", "Transferring guest logs.", false}
	TaskDetaching              = InstanceTask{11, "DETACHING", "Detaching the instance from replica source.", false}
	TaskUpdating               = InstanceTask{12, "UPDATING", "Updating the instance.", false}
	TaskBuildingErrorDNS       = InstanceTask{80, "BUILDING", "Build error: DNS.", true}
	TaskBuildingErrorServer    = InstanceTask{81, "BUILDING", "Build error: Server.", true}
	TaskBuildingErrorVolume    = InstanceTask{82, "BUILDING", "Build error: Volume.", true}
	TaskBuildingErrorSecGroups = InstanceTask{83, "BUILDING", "Build error: Secgroup or rule.", true}
	TaskBuildingErrorReplica   = InstanceTask{84, "BUILDING", "Build error: Replica.", true}
	TaskPromotionError         = InstanceTask{85, "PROMOTING", "Replica Promotion Error.", true}
	TaskEjectionError          = InstanceTask{86, "EJECTING", "Replica Source Ejection Error.", true}
	TaskGrowingError           = InstanceTask{87, "GROWING", "Growing Cluster Error.", true}
	TaskShrinkingError         = InstanceTask{88, "SHRINKING", "Shrinking Cluster Error.", true}
	TaskUpgrading              = InstanceTask{89, "UPGRADING", "Upgrading the instance.", false}
	TaskUpgradingError         = InstanceTask{90, "UPGRADING", "Upgrading Cluster Error.", true}
	TaskBuildingErrorTimeoutGA = InstanceTask{91, "ERROR", "Build error: guestagent timeout.", true}
	TaskBuildingErrorPort      = InstanceTask{92, "BUILDING", "Build error: Port.", true}
	TaskUpdatingErrorAccess    = InstanceTask{93, "UPDATING", "Update error: Access.", true}
)

// Tasks lists every instance task in code order.
var Tasks = []InstanceTask{
	TaskNone, TaskDeleting, TaskRebooting, TaskResizing, TaskBuilding, TaskMigrating, TaskRestartRequired,
	TaskPromoting, TaskEjecting, TaskLogging, TaskDetaching, TaskUpdating, TaskBuildingErrorDNS,
	TaskBuildingErrorServer, TaskBuildingErrorVolume, TaskBuildingErrorSecGroups, TaskBuildingErrorReplica,
	TaskPromotionError, TaskEjectionError, TaskGrowingError, TaskShrinkingError, TaskUpgrading, TaskUpgradingError,
	TaskBuildingErrorTimeoutGA, TaskBuildingErrorPort, TaskUpdatingErrorAccess,
}

// TaskByCode finds the task stored as instances.task_id.
func TaskByCode(code int) (InstanceTask, bool) {
	for _, t := range Tasks {
		if t.Code == code {
			return t, true
		}
	}
	return InstanceTask{}, false
}

// ServiceStatus is one of Trove's guest ServiceStatuses (service_statuses.status_id / status_description).
type ServiceStatus struct {
	Code        int
	Description string // the heartbeat text and the stored status_description
	API         string // what operating_status shows
	// ActionsAllowed is Trove's action_is_allowed: instance actions (restart, resize, backup, …) are accepted.
	ActionsAllowed bool
}

// Guest service statuses, named after Trove's ServiceStatuses members.
var (
	Running                 = ServiceStatus{1, "running", "ACTIVE", true}
	Blocked                 = ServiceStatus{2, "blocked", "BLOCKED", true}
	Paused                  = ServiceStatus{3, "paused", "SHUTDOWN", false}
	Shutdown                = ServiceStatus{4, "shutdown", "SHUTDOWN", true}
	Deleted                 = ServiceStatus{5, "deleted", "DELETED", false}
	Crashed                 = ServiceStatus{6, "crashed", "SHUTDOWN", true}
	Failed                  = ServiceStatus{8, "failed to spawn", "FAILED", false}
	Building                = ServiceStatus{9, "building", "BUILD", false}
	Promoting               = ServiceStatus{16, "promoting replica", "PROMOTE", false}
	Ejecting                = ServiceStatus{17, "ejecting replica source", "EJECT", false}
	Logging                 = ServiceStatus{18, "transferring guest logs", "LOGGING", false}
	Unknown                 = ServiceStatus{22, "unknown", "ERROR", false}
	New                     = ServiceStatus{23, "new", "NEW", false}
	FailedTimeoutGuestagent = ServiceStatus{24, "guestagent error", "ERROR", false}
	InstanceReady           = ServiceStatus{25, "instance ready", "BUILD", false}
	RestartRequired         = ServiceStatus{32, "restart required", "RESTART_REQUIRED", true}
	Healthy                 = ServiceStatus{33, "healthy", "HEALTHY", true}
	Upgrading               = ServiceStatus{34, "upgrading", "UPGRADING", false}
	Restarting              = ServiceStatus{34, "restarting", "RESTARTING", false}
)

// ServiceStatuses lists every guest status in Trove's registration order (Upgrading before Restarting: they
// share code 34 and a lookup by code returns Restarting, as in Trove).
var ServiceStatuses = []ServiceStatus{
	Running, Blocked, Paused, Shutdown, Deleted, Crashed, Failed, Building, Promoting, Ejecting, Logging, Unknown,
	New, FailedTimeoutGuestagent, InstanceReady, RestartRequired, Healthy, Upgrading, Restarting,
}

// ServiceStatusByCode returns the status for service_statuses.status_id. Code 34 yields Restarting, so a row
// written as (34, "upgrading") reads back as RESTARTING exactly as in Trove.
func ServiceStatusByCode(code int) (ServiceStatus, bool) {
	var found ServiceStatus
	ok := false
	for _, s := range ServiceStatuses {
		if s.Code == code {
			found, ok = s, true // the last registered wins
		}
	}
	return found, ok
}

// ServiceStatusByDescription maps a heartbeat's service_status text (exact match, as the conductor does).
func ServiceStatusByDescription(desc string) (ServiceStatus, bool) {
	for _, s := range ServiceStatuses {
		if s.Description == desc {
			return s, true
		}
	}
	return ServiceStatus{}, false
}

// Same reports whether two statuses are equal in Trove's sense (by code: UPGRADING ≡ RESTARTING).
func (s ServiceStatus) Same(o ServiceStatus) bool { return s.Code == o.Code }
