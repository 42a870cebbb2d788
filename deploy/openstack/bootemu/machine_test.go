package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeGuest stands in for trove-guestagent in the supervision tests only (the integration test runs the real
// one): it records its arguments, starts a "database server" in a session of its own whose command line names
// the data directory (as mariadbd's --datadir does), and waits.
const fakeGuest = `#!/bin/sh
echo "$@" > args
setsid sh -c 'sleep 1000; : %s/' </dev/null >/dev/null 2>&1 &
exec sleep 1000
`

func dbProcs(marker string) []int { return machineProcs(map[int]bool{}, []string{marker}) }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func startFake(t *testing.T) (Proc, string, string, string) {
	t.Helper()
	base := t.TempDir()
	dir, data := filepath.Join(base, "servers", "s1"), filepath.Join(base, "volumes", "v1")
	conf := filepath.Join(dir, "etc", "trove", "conf.d")
	for _, d := range []string{conf, data} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(base, "guest.sh")
	if err := os.WriteFile(bin, []byte(fmt.Sprintf(fakeGuest, data)), 0o755); err != nil {
		t.Fatal(err)
	}
	pidPath := filepath.Join(dir, "guest.pid")
	p, err := Launcher{Binary: bin}.Start(dir, conf, filepath.Join(dir, "guest.log"), pidPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = Stop(p, []string{dir + "/", data + "/"}, time.Second) })
	waitFor(t, "the fake database server in a session of its own", func() bool {
		for _, pid := range dbProcs(data + "/") {
			if _, _, grp, ok := procStat(pid); ok && grp != p.PID {
				return true
			}
		}
		return false
	})
	return p, dir, data, pidPath
}

func TestGuestSupervision(t *testing.T) {
	p, dir, data, pidPath := startFake(t)
	if !p.Alive() {
		t.Fatal("guest not alive after start")
	}
	args, _ := os.ReadFile(filepath.Join(dir, "args"))
	if got, want := strings.TrimSpace(string(args)), "--config-dir "+filepath.Join(dir, "etc/trove/conf.d"); got != want {
		t.Errorf("guest args %q, want %q", got, want)
	}
	if sid, _ := syscall.Getpgid(p.PID); sid != p.PID {
		t.Errorf("guest is not the leader of its own group (pgid %d, pid %d)", sid, p.PID)
	}
	// Adoption: the pid file identifies the guest; the same pid with another start time does not.
	if adopted := readPidFile(pidPath); adopted != p || !adopted.Alive() {
		t.Fatalf("pid file → %+v, want the live %+v", adopted, p)
	}
	if (Proc{PID: p.PID, Start: p.Start + 1}).Alive() {
		t.Error("a pid with another start time counts as the guest")
	}

	pids, err := Stop(p, []string{dir + "/", data + "/"}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(pids) < 2 {
		t.Errorf("stop signalled %v, want the guest and its database server", pids)
	}
	if p.Alive() || len(dbProcs(data+"/")) > 0 {
		t.Errorf("alive after stop: guest %v, database server %v", p.Alive(), dbProcs(data+"/"))
	}
}

// TestStopFindsOrphanedServer: with the guest gone (crashed, or killed outside the emulator), the database
// server it left behind is still found through the data directory on its command line.
func TestStopFindsOrphanedServer(t *testing.T) {
	p, dir, data, _ := startFake(t)
	_ = syscall.Kill(-p.PID, syscall.SIGKILL)
	waitFor(t, "the guest to die", func() bool { return !p.Alive() })
	if len(dbProcs(data+"/")) == 0 {
		t.Fatal("the database server died with the guest; the test needs it orphaned")
	}
	if _, err := Stop(p, []string{dir + "/", data + "/"}, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if left := dbProcs(data + "/"); len(left) > 0 {
		t.Errorf("orphaned database server %v survives stop", left)
	}
}
