package status

import (
	"testing"
	"time"
)

func TestTaskByCode(t *testing.T) {
	seen := map[int]bool{}
	for _, task := range Tasks {
		if seen[task.Code] {
			t.Errorf("duplicate task code %d", task.Code)
		}
		seen[task.Code] = true
		got, ok := TaskByCode(task.Code)
		if !ok || got != task {
			t.Errorf("TaskByCode(%d) = %+v, %v", task.Code, got, ok)
		}
	}
	if _, ok := TaskByCode(13); ok {
		t.Error("code 13 should be unknown")
	}
	if len(Tasks) != 26 {
		t.Errorf("%d tasks, states.md §1.1 has 26", len(Tasks))
	}
}

func TestServiceStatusLookups(t *testing.T) {
	cases := []struct {
		code int
		want ServiceStatus
	}{
		{1, Running}, {2, Blocked}, {3, Paused}, {4, Shutdown}, {5, Deleted}, {6, Crashed}, {8, Failed},
		{9, Building}, {16, Promoting}, {17, Ejecting}, {18, Logging}, {22, Unknown}, {23, New},
		{24, FailedTimeoutGuestagent}, {25, InstanceReady}, {32, RestartRequired}, {33, Healthy},
		{34, Restarting}, // shared with Upgrading; the last registered wins, as in Trove
	}
	for _, c := range cases {
		got, ok := ServiceStatusByCode(c.code)
		if !ok || got != c.want {
			t.Errorf("ServiceStatusByCode(%d) = %+v, %v; want %+v", c.code, got, ok, c.want)
		}
	}
	if _, ok := ServiceStatusByCode(7); ok {
		t.Error("code 7 should be unknown")
	}
	for _, s := range ServiceStatuses {
		got, ok := ServiceStatusByDescription(s.Description)
		if !ok || got != s {
			t.Errorf("ServiceStatusByDescription(%q) = %+v, %v", s.Description, got, ok)
		}
	}
	for _, bad := range []string{"Running", "HEALTHY", "", "healthy "} {
		if _, ok := ServiceStatusByDescription(bad); ok {
			t.Errorf("description %q should not match", bad)
		}
	}
	if !Upgrading.Same(Restarting) || Running.Same(Healthy) {
		t.Error("Same compares by code")
	}
}

func TestDerive(t *testing.T) {
	const fresh, old = 10 * time.Second, 90 * time.Second
	exp := DefaultHeartbeatExpiry
	cases := []struct {
		name   string
		task   InstanceTask
		server string
		svc    ServiceStatus
		backup bool
		age    time.Duration
		status string
		op     string
	}{
		{"healthy", TaskNone, "ACTIVE", Healthy, false, fresh, "ACTIVE", "HEALTHY"},
		{"running", TaskNone, "ACTIVE", Running, false, fresh, "ACTIVE", "ACTIVE"},
		{"new guest, fresh", TaskNone, "ACTIVE", New, false, fresh, "ACTIVE", "NEW"},
		{"stale heartbeat on active server", TaskNone, "ACTIVE", Healthy, false, old, "SHUTDOWN", "ERROR"},
		{"stale but restart required", TaskNone, "ACTIVE", RestartRequired, false, old, "ACTIVE", "RESTART_REQUIRED"},
		{"stale while building: no override", TaskBuilding, "BUILD", Building, false, old, "BUILD", ""},
		{"stale on shut-off server", TaskNone, "SHUTOFF", Healthy, false, old, "UNKNOWN", ""},
		{"stale with nova shutdown", TaskNone, "SHUTDOWN", Healthy, false, old, "SHUTDOWN", ""},
		{"error task wins", TaskBuildingErrorServer, "ACTIVE", Healthy, false, fresh, "ERROR", ""},
		{"guestagent timeout task", TaskBuildingErrorTimeoutGA, "ACTIVE", FailedTimeoutGuestagent, false, fresh, "ERROR", ""},
		{"building", TaskBuilding, "BUILD", New, false, fresh, "BUILD", ""},
		{"building, nova error", TaskBuilding, "ERROR", New, false, fresh, "ERROR", ""},
		{"rebooting", TaskRebooting, "ACTIVE", Restarting, false, fresh, "REBOOT", ""},
		{"resizing", TaskResizing, "ACTIVE", Paused, false, fresh, "RESIZE", ""},
		{"upgrading", TaskUpgrading, "ACTIVE", Upgrading, false, fresh, "UPGRADE", ""},
		{"upgrading cluster error", TaskUpgradingError, "ACTIVE", Healthy, false, fresh, "ERROR", ""},
		{"restart required task", TaskRestartRequired, "ACTIVE", Healthy, false, fresh, "RESTART_REQUIRED", ""},
		{"promoting", TaskPromoting, "ACTIVE", Healthy, false, fresh, "PROMOTE", ""},
		{"promotion error", TaskPromotionError, "ACTIVE", Healthy, false, fresh, "ERROR", ""},
		{"ejecting", TaskEjecting, "ACTIVE", Healthy, false, fresh, "EJECT", ""},
		{"detaching", TaskDetaching, "ACTIVE", Healthy, false, fresh, "DETACH", ""},
		{"logging", TaskLogging, "ACTIVE", Healthy, false, fresh, "LOGGING", ""},
		{"deleting, active", TaskDeleting, "ACTIVE", Healthy, false, fresh, "SHUTDOWN", ""},
		{"deleting, deleted", TaskDeleting, "DELETED", Healthy, false, fresh, "SHUTDOWN", ""},
		{"deleting, error", TaskDeleting, "ERROR", Healthy, false, fresh, "ERROR", ""},
		{"backup running", TaskNone, "ACTIVE", Healthy, true, fresh, "BACKUP", "HEALTHY"},
		{"backup running, stale", TaskNone, "ACTIVE", Healthy, true, old, "BACKUP", "ERROR"},
		{"migrating falls through", TaskMigrating, "ACTIVE", Healthy, false, fresh, "ACTIVE", ""},
		{"updating falls through", TaskUpdating, "REBOOT", Healthy, false, fresh, "REBOOT", ""},
		{"verify resize", TaskNone, "VERIFY_RESIZE", Healthy, false, fresh, "RESIZE", ""},
		{"hard reboot unknown", TaskNone, "HARD_REBOOT", Healthy, false, fresh, "UNKNOWN", ""},
		{"nova build", TaskNone, "BUILD", Healthy, false, fresh, "BUILD", ""},
		{"just under expiry", TaskNone, "ACTIVE", Healthy, false, exp - time.Second, "ACTIVE", "HEALTHY"},
		{"exactly expiry", TaskNone, "ACTIVE", Healthy, false, exp, "SHUTDOWN", "ERROR"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, op := Derive(c.task, c.server, c.svc, c.backup, c.age, exp)
			if st != c.status || op != c.op {
				t.Errorf("Derive = (%q, %q), want (%q, %q)", st, op, c.status, c.op)
			}
		})
	}
}

func TestActionBlocker(t *testing.T) {
	cases := []struct {
		name          string
		task          InstanceTask
		server        string
		svc           ServiceStatus
		backup        bool
		shown         string
		wantType, val string
	}{
		{"allowed", TaskNone, "ACTIVE", Healthy, false, "ACTIVE", "", ""},
		{"allowed with restart required task", TaskRestartRequired, "ACTIVE", RestartRequired, false, "RESTART_REQUIRED", "", ""},
		{"server not active", TaskNone, "SHUTOFF", Healthy, false, "UNKNOWN", "instance", "SHUTOFF"},
		{"task running", TaskResizing, "ACTIVE", Healthy, false, "RESIZE", "task", "RESIZING"},
		{"guest not allowing", TaskNone, "ACTIVE", FailedTimeoutGuestagent, false, "SHUTDOWN", "instance", "SHUTDOWN"},
		{"backup running", TaskNone, "ACTIVE", Healthy, true, "BACKUP", "instance", "BACKUP"},
	}
	for _, c := range cases {
		typ, val := ActionBlocker(c.task, c.server, c.svc, c.backup, c.shown)
		if typ != c.wantType || val != c.val {
			t.Errorf("%s: ActionBlocker = (%q, %q), want (%q, %q)", c.name, typ, val, c.wantType, c.val)
		}
	}
}

func TestClusterTasksAndBackupStates(t *testing.T) {
	for i, c := range ClusterTasks {
		if c.Code != i+1 {
			t.Errorf("%s has code %d", c.Name, c.Code)
		}
		if got, ok := ClusterTaskByCode(c.Code); !ok || got != c {
			t.Errorf("ClusterTaskByCode(%d) = %+v", c.Code, got)
		}
	}
	if _, ok := ClusterTaskByCode(10); ok {
		t.Error("code 10 should be unknown")
	}
	cases := []struct {
		state               string
		running, successful bool
	}{
		{"NEW", true, false}, {"BUILDING", true, false}, {"SAVING", true, false}, {"COMPLETED", false, true},
		{"FAILED", false, false}, {"DELETE_FAILED", false, false}, {"RESTORED", false, true}, {"new", false, false},
	}
	for _, c := range cases {
		if BackupRunning(c.state) != c.running || BackupSuccessful(c.state) != c.successful {
			t.Errorf("%s: running %v successful %v", c.state, BackupRunning(c.state), BackupSuccessful(c.state))
		}
	}
}

// ClusterTaskByCode finds the task stored as clusters.task_id.
func ClusterTaskByCode(code int) (ClusterTask, bool) {
	for _, t := range ClusterTasks {
		if t.Code == code {
			return t, true
		}
	}
	return ClusterTask{}, false
}

// BackupSuccessful reports COMPLETED or RESTORED (a backup that can be restored from).
func BackupSuccessful(state string) bool { return state == BackupCompleted || state == BackupRestored }
