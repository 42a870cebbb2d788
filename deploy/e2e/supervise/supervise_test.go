// Package supervise tests deploy/supervise.sh, the supervisor deploy/run.sh starts each service under when
// systemd is not PID 1. It needs no deployment: the "services" are small shell scripts.
package supervise

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A service that stops on SIGTERM like ours (handler, exit 0), one that dies of it, and one that crashes.
const (
	graceful = `echo $$ >>"$1"; trap 'exit 0' TERM; while :; do sleep 0.05; done`
	plain    = `echo $$ >>"$1"; exec sleep 1000`
	crashing = `echo $$ >>"$1"; sleep 0.2; exit 3`
)

type supervised struct {
	t                     *testing.T
	dir, pidfile, started string
	cmd                   *exec.Cmd
}

// start runs supervise.sh on a service script in a process group of its own (killed at cleanup).
func start(t *testing.T, script string) *supervised {
	t.Helper()
	dir := t.TempDir()
	s := &supervised{t: t, dir: dir, pidfile: filepath.Join(dir, "svc.pid"), started: filepath.Join(dir, "started")}
	svc := filepath.Join(dir, "svc.sh")
	if err := os.WriteFile(svc, []byte("#!/bin/bash\n"+script+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command("bash", "../../supervise.sh", s.pidfile, filepath.Join(dir, "svc.log"), svc, s.started)
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.cmd.Wait() }() // reap the supervisor
	t.Cleanup(func() {
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		for _, pid := range s.services() {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	s.waitFor("the service to start", func() bool { return len(s.services()) == 1 && s.pidfileValue() == s.cmd.Process.Pid })
	return s
}

// services are the pids of every service process the supervisor started.
func (s *supervised) services() []int {
	data, _ := os.ReadFile(s.started)
	var out []int
	for _, f := range strings.Fields(string(data)) {
		if pid, err := strconv.Atoi(f); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

func (s *supervised) pidfileValue() int {
	data, _ := os.ReadFile(s.pidfile)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	return pid
}

func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	// A zombie is gone for our purpose.
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}

func (s *supervised) waitFor(what string, ok func() bool) {
	s.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if ok() {
			return
		}
	}
	log, _ := os.ReadFile(filepath.Join(s.dir, "svc.log"))
	s.t.Fatalf("timed out waiting for %s; services %v; log:\n%s", what, s.services(), log)
}

// allGone: the supervisor and every service it started have exited, and stay so (nothing restarted).
func (s *supervised) allGone() {
	s.t.Helper()
	gone := func() bool {
		if alive(s.cmd.Process.Pid) {
			return false
		}
		for _, pid := range s.services() {
			if alive(pid) {
				return false
			}
		}
		return true
	}
	s.waitFor("the supervisor and the service to exit", gone)
	time.Sleep(1500 * time.Millisecond) // longer than the first restart delay
	if !gone() || len(s.services()) != 1 {
		s.t.Fatalf("after the stop: services started %v, supervisor alive %v", s.services(), alive(s.cmd.Process.Pid))
	}
}

// The documented stop, kill $(cat PIDFILE), stops the service and its supervisor for good (issue 12: the
// taskmanager kept running unsupervised).
func TestKillPidfileStopsForGood(t *testing.T) {
	for name, script := range map[string]string{"graceful": graceful, "plain": plain} {
		t.Run(name, func(t *testing.T) {
			s := start(t, script)
			if err := syscall.Kill(s.pidfileValue(), syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			s.allGone()
			if _, err := os.Stat(s.pidfile); !os.IsNotExist(err) {
				t.Errorf("pid file left: %v", err)
			}
		})
	}
}

// Even kill -9 of the supervisor leaves no unsupervised service: it gets SIGTERM as its parent dies.
func TestSupervisorKilledTakesTheServiceDown(t *testing.T) {
	s := start(t, graceful)
	if err := syscall.Kill(s.pidfileValue(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	s.allGone()
}

// A service ended by a signal sent to it is not restarted; one that fails is.
func TestRestartOnlyOnFailure(t *testing.T) {
	s := start(t, plain)
	if err := syscall.Kill(s.services()[0], syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	s.allGone()

	c := start(t, crashing)
	c.waitFor("a restart", func() bool { return len(c.services()) >= 2 })
	if err := syscall.Kill(c.pidfileValue(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	c.waitFor("the supervisor to exit", func() bool { return !alive(c.cmd.Process.Pid) })
}
