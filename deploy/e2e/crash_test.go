package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/config"
	"github.com/trove-go/trove/pkg/status"
	"github.com/trove-go/trove/pkg/testenv"
)

// A taskmanager killed with SIGKILL in the middle of a create and started again (by run.sh's supervisor, then
// `bash deploy/run.sh` as an operator would) leaves an instance that ends ACTIVE or ERROR — never stuck in BUILD.
// Not parallel: it takes the taskmanager away from every other test while it is down.
func TestTaskmanagerKilledDuringCreate(t *testing.T) {
	c := demo(t)
	supervisor, err := readPIDFile(filepath.Join(pidDir, "trove-taskmanager.pid"))
	if err != nil || !alive(supervisor) {
		t.Fatalf("taskmanager pid file %s/trove-taskmanager.pid: pid %d, %v", pidDir, supervisor, err)
	}
	tm := taskmanagerPID(t, supervisor)

	password := newPassword(t, "Crash")
	created := c.createInstance(testenv.UniqueName(t, "crash"), "--flavor", c.smallFlavor(), "--size", "1",
		"--datastore", "mariadb", "--datastore-version", c.datastoreVersion("mariadb"),
		"--databases", "app", "--users", "app:"+password)
	// Kill as soon as the create flow has visibly started on the compute side.
	dir := filepath.Join(instancesDir, created.ID)
	if ok, _ := waitFor(time.Minute, 10*time.Millisecond, func() (bool, string) {
		_, err := os.Stat(dir)
		return err == nil, ""
	}); !ok {
		t.Fatalf("the create flow of %s never reached the compute driver (%s missing)", created.ID, dir)
	}
	killMidBuild(t, supervisor, tm, created.ID)
	// The supervisor restarted the service; run.sh, run again, must find everything healthy.
	if out, err := runDeploy(); err != nil {
		t.Fatalf("bash deploy/run.sh after the crash: %v\n%s", err, out)
	}

	inst := c.waitStatus(created.ID, actionTimeout, "ACTIVE", "ERROR")
	t.Logf("after the restart instance %s ended %s", created.ID, inst)
	if inst.Status == "ACTIVE" {
		if inst.address() == "" {
			t.Fatalf("instance %s is ACTIVE but has no address: %s", created.ID, inst)
		}
		mustConnect(t, mariadbClient, inst.address(), "app", password, "app")
	}
	c.deleteInstance(created.ID)
}

// taskmanagerPID is the trove-taskmanager process the supervisor runs.
func taskmanagerPID(t *testing.T, supervisor int) int {
	t.Helper()
	pid := childOf(supervisor)
	exe, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	if pid == 0 || filepath.Base(exe) != "trove-taskmanager" {
		t.Fatalf("supervisor %d runs no trove-taskmanager (child %d, %q)", supervisor, pid, exe)
	}
	return pid
}

// openCatalog opens the catalog with [database] connection of /etc/trove/trove.conf.
func openCatalog(t *testing.T) *catalog.DB {
	t.Helper()
	f, err := config.LoadFiles(filepath.Join(etcDir, "trove.conf"))
	if err != nil {
		t.Fatalf("reading trove.conf: %v", err)
	}
	db, err := catalog.OpenConfig(f)
	if err != nil {
		t.Fatalf("opening the catalog: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// killMidBuild kills the taskmanager with SIGKILL, checks the instance's create had not ended (else nothing is
// tested) and waits until the supervisor has started a new taskmanager.
func killMidBuild(t *testing.T, supervisor, tm int, instanceID string) {
	t.Helper()
	if err := syscall.Kill(tm, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -KILL %d: %v", tm, err)
	}
	// Only the taskmanager ends a build: a row still BUILDING now proves the kill interrupted the create.
	row, err := openCatalog(t).GetInstance(context.Background(), instanceID)
	if err != nil {
		t.Fatalf("reading instance %s from the catalog: %v", instanceID, err)
	}
	if row.TaskID != status.TaskBuilding.Code {
		t.Fatalf("the create of %s had already ended (task %d) when the taskmanager was killed; nothing was tested",
			instanceID, row.TaskID)
	}
	t.Logf("killed trove-taskmanager %d in the middle of the create of %s", tm, instanceID)
	if ok, _ := waitFor(time.Minute, 200*time.Millisecond, func() (bool, string) {
		p := childOf(supervisor)
		return p != 0 && p != tm, ""
	}); !ok {
		t.Fatalf("the supervisor %d did not restart trove-taskmanager within a minute", supervisor)
	}
}
