package local

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A guest is supervised either as a transient systemd unit (when systemd is PID 1) or as a detached session
// (setsid) whose leader pid is kept in <instance dir>/guest.pid. Either way it outlives the taskmanager.

func systemdIsInit() bool {
	b, err := os.ReadFile("/proc/1/comm")
	return err == nil && strings.TrimSpace(string(b)) == "systemd"
}

func unitName(instanceID string) string { return "trove-guest-" + instanceID }

// startGuest starts the guest agent of an instance.
func (d *Driver) startGuest(instanceID string) error {
	if d.isolated() {
		if err := d.createUser(instanceID); err != nil {
			return err
		}
		if err := d.applyLimits(instanceID); err != nil {
			return err
		}
		return d.startIsolated(instanceID)
	}
	dir := d.instanceDir(instanceID)
	args := []string{"--config-dir", filepath.Join(dir, "etc", "trove", "conf.d")}
	if _, err := os.Stat(d.cfg.GuestAgentBinary); err != nil {
		return fmt.Errorf("guest agent binary: %w", err)
	}
	if d.systemd {
		cmd := exec.Command("systemd-run", append([]string{"--unit", unitName(instanceID), "--collect",
			"-p", "KillMode=control-group", "-p", "WorkingDirectory=" + dir, d.cfg.GuestAgentBinary}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("systemd-run %s: %v: %s", unitName(instanceID), err, bytes.TrimSpace(out))
		}
		return nil
	}
	logf, err := os.OpenFile(filepath.Join(dir, "guest.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(d.cfg.GuestAgentBinary, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting guest agent: %w", err)
	}
	pid := cmd.Process.Pid
	// Reap it if it dies while we run; after a taskmanager restart init adopts it.
	go cmd.Wait() //nolint:errcheck // exit status is visible through guestRunning and guest.log
	// The start time makes the record immune to pid reuse (the guest may exec another program).
	rec := fmt.Sprintf("%d %d\n", pid, startTime(pid))
	if err := os.WriteFile(filepath.Join(dir, "guest.pid"), []byte(rec), 0o640); err != nil {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		return fmt.Errorf("writing guest pid file: %w", err)
	}
	d.log.WithField("instance_id", instanceID).WithField("pid", pid).Info("guest agent started")
	return nil
}

// guestRunning reports whether the instance's guest agent is alive.
func (d *Driver) guestRunning(instanceID string) bool {
	if d.systemd && !d.isolated() {
		out, _ := exec.Command("systemctl", "is-active", unitName(instanceID)).Output()
		s := strings.TrimSpace(string(out))
		return s == "active" || s == "activating"
	}
	return d.guestPID(instanceID) > 0
}

// guestPID returns the pid of the guest's session leader if it is still the process the driver started, else 0.
func (d *Driver) guestPID(instanceID string) int {
	b, err := os.ReadFile(filepath.Join(d.instanceDir(instanceID), "guest.pid"))
	if err != nil {
		return 0
	}
	var pid int
	var start uint64
	if _, err := fmt.Sscan(string(b), &pid, &start); err != nil || pid <= 0 {
		return 0
	}
	if !alive(pid) || startTime(pid) != start {
		return 0
	}
	return pid
}

// startTime is the process's start time in clock ticks since boot (/proc/<pid>/stat field 22), 0 if unknown.
func startTime(pid int) uint64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0
	}
	v, _ := strconv.ParseUint(f[19], 10, 64)
	return v
}

// stopGuest terminates the guest and everything it started: its process group (session), any process whose
// command line points into the instance directory (a database server that detached itself), their groups and
// their children. They are first frozen (SIGSTOP) until the set stops growing, so nothing forks or detaches
// while we look; then SIGTERM (+SIGCONT), and SIGKILL after StopTimeout.
func (d *Driver) stopGuest(instanceID string) error {
	if d.isolated() {
		if err := d.stopIsolated(instanceID); err != nil {
			return err
		}
		// Then, as below, anything of the instance still running as the taskmanager's user (a guest started
		// before isolation was turned on).
	} else if d.systemd {
		out, err := exec.Command("systemctl", "stop", unitName(instanceID)).CombinedOutput()
		if err != nil && !bytes.Contains(out, []byte("not loaded")) {
			return fmt.Errorf("systemctl stop %s: %v: %s", unitName(instanceID), err, bytes.TrimSpace(out))
		}
	}
	pgid := d.guestPID(instanceID) // 0 when the guest is gone (or its pid was reused): rely on the directory match
	marker := d.instanceDir(instanceID) + "/"
	groups := map[int]bool{}
	if pgid > 0 {
		groups[pgid] = true
	}
	members := func() []int { return processes(groups, marker) }
	frozen := map[int]bool{}
	for round := 0; round < 50; round++ {
		var fresh []int
		for _, p := range members() {
			if !frozen[p] {
				frozen[p] = true
				fresh = append(fresh, p)
			}
		}
		if len(fresh) == 0 {
			break
		}
		signalAll(fresh, groups, syscall.SIGSTOP)
	}
	all := members()
	if len(all) == 0 {
		return nil
	}
	signalAll(all, groups, syscall.SIGTERM)
	signalAll(all, groups, syscall.SIGCONT)
	deadline := time.Now().Add(d.cfg.StopTimeout)
	for time.Now().Before(deadline) {
		if len(members()) == 0 {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	left := members()
	signalAll(left, groups, syscall.SIGKILL)
	d.log.WithField("instance_id", instanceID).WithField("pids", left).Warn("guest processes killed after stop timeout")
	for i := 0; i < 40 && len(members()) > 0; i++ {
		time.Sleep(50 * time.Millisecond)
	}
	if left := members(); len(left) > 0 {
		return fmt.Errorf("guest processes %v of instance %s survive SIGKILL", left, instanceID)
	}
	return nil
}

func signalAll(pids []int, groups map[int]bool, sig syscall.Signal) {
	for g := range groups {
		_ = syscall.Kill(-g, sig)
	}
	for _, p := range pids {
		_ = syscall.Kill(p, sig)
	}
}

// processes lists live (non-zombie) processes that are in one of groups, whose command line contains marker, or
// whose parent is such a process. Groups of marked processes are added to groups, so later calls still find a
// group whose marked member has already exited.
func processes(groups map[int]bool, marker string) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self, ownGroup := os.Getpid(), syscall.Getpgrp()
	type proc struct{ pid, ppid, grp int }
	var live []proc
	member := map[int]bool{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		st, ppid, grp, ok := procStat(pid)
		if !ok || st == 'Z' || st == 'X' {
			continue
		}
		live = append(live, proc{pid, ppid, grp})
		if strings.Contains(cmdline(pid), marker) {
			member[pid] = true
			if grp > 1 && grp != ownGroup {
				groups[grp] = true
			}
		}
	}
	for changed := true; changed; {
		changed = false
		for _, p := range live {
			if !member[p.pid] && (groups[p.grp] || member[p.ppid]) {
				member[p.pid], changed = true, true
			}
		}
	}
	out := make([]int, 0, len(member))
	for _, p := range live {
		if member[p.pid] {
			out = append(out, p.pid)
		}
	}
	return out
}

// procStat returns the state letter, parent and process group of pid.
func procStat(pid int) (state byte, ppid, pgrp int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, 0, false
	}
	// pid (comm) state ppid pgrp ... — comm may contain spaces and parentheses, so cut at the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 3 {
		return 0, 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	pgrp, _ = strconv.Atoi(f[2])
	return f[0][0], ppid, pgrp, true
}

func alive(pid int) bool {
	st, _, _, ok := procStat(pid)
	return ok && st != 'Z' && st != 'X'
}

func cmdline(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return ""
	}
	return string(bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
}
