package main

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

// Proc identifies a started guest: its pid and its start time (clock ticks since boot, /proc/<pid>/stat field
// 22), so a reused pid is never taken for the guest.
type Proc struct {
	PID   int    `json:"pid"`
	Start uint64 `json:"start"`
}

// Alive reports whether p is still the process that was started.
func (p Proc) Alive() bool {
	if p.PID <= 0 {
		return false
	}
	st, _, _, ok := procStat(p.PID)
	return ok && st != 'Z' && st != 'X' && startTicks(p.PID) == p.Start
}

// Launcher starts guest agents the way a machine's init would: detached in their own session, output to a log
// file, as the given user.
type Launcher struct {
	Binary string              // the trove-guestagent binary
	Cred   *syscall.Credential // nil = the emulator's own user
}

// Start runs `<binary> --config-dir <configDir>` in dir with its output appended to logPath, and records the
// pid and start time in pidPath.
func (l Launcher) Start(dir, configDir, logPath, pidPath string) (Proc, error) {
	if _, err := os.Stat(l.Binary); err != nil {
		return Proc{}, fmt.Errorf("guest agent binary: %w", err)
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return Proc{}, err
	}
	defer logf.Close()
	if l.Cred != nil {
		_ = os.Lchown(logPath, int(l.Cred.Uid), int(l.Cred.Gid))
	}
	cmd := exec.Command(l.Binary, "--config-dir", configDir)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Credential: l.Cred}
	if err := cmd.Start(); err != nil {
		return Proc{}, fmt.Errorf("starting guest agent: %w", err)
	}
	// Reap it should it die while the emulator runs; after an emulator restart init adopts it.
	go cmd.Wait() //nolint:errcheck // the exit shows as !Alive and in the log
	p := Proc{PID: cmd.Process.Pid, Start: startTicks(cmd.Process.Pid)}
	if err := os.WriteFile(pidPath, []byte(fmt.Sprintf("%d %d\n", p.PID, p.Start)), 0o644); err != nil {
		_ = syscall.Kill(-p.PID, syscall.SIGKILL)
		return Proc{}, fmt.Errorf("writing pid file: %w", err)
	}
	return p, nil
}

// Stop ends a machine's processes: the guest's session (process group = its pid, when it is still the guest
// that was started), every process whose command line names one of markers (the database server the guest
// started in its own group, with the data directory on its command line) with its group, and all their
// descendants. SIGTERM first, SIGKILL after timeout. It returns the pids that were signalled.
func Stop(p Proc, markers []string, timeout time.Duration) ([]int, error) {
	groups := map[int]bool{}
	if p.Alive() {
		groups[p.PID] = true
	}
	members := func() []int { return machineProcs(groups, markers) }
	first := members()
	if len(first) == 0 {
		return nil, nil
	}
	signalAll(first, groups, syscall.SIGTERM)
	signalAll(first, groups, syscall.SIGCONT)
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		left := members()
		if len(left) == 0 {
			return first, nil
		}
		signalAll(left, groups, syscall.SIGTERM) // children forked after the first round
	}
	signalAll(members(), groups, syscall.SIGKILL)
	for i := 0; i < 40; i++ {
		if len(members()) == 0 {
			return first, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return first, fmt.Errorf("processes %v survive SIGKILL", members())
}

func signalAll(pids []int, groups map[int]bool, sig syscall.Signal) {
	for g := range groups {
		_ = syscall.Kill(-g, sig)
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, sig)
	}
}

// machineProcs lists live processes in one of groups, naming a marker on their command line, or descending
// from such a process. The groups of marked processes join groups, so they are still found after the marked
// process exits.
func machineProcs(groups map[int]bool, markers []string) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self, ownGroup := os.Getpid(), syscall.Getpgrp()
	type proc struct{ pid, ppid, grp int }
	var all []proc
	in := map[int]bool{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		st, ppid, grp, ok := procStat(pid)
		if !ok || st == 'Z' || st == 'X' {
			continue
		}
		all = append(all, proc{pid, ppid, grp})
		if groups[grp] {
			in[pid] = true
			continue
		}
		args := readCmdline(pid)
		for _, m := range markers {
			if m != "" && strings.Contains(args, m) {
				in[pid] = true
				if grp > 1 && grp != ownGroup {
					groups[grp] = true
				}
				break
			}
		}
	}
	for grew := true; grew; {
		grew = false
		for _, p := range all {
			if !in[p.pid] && (in[p.ppid] || groups[p.grp]) {
				in[p.pid], grew = true, true
			}
		}
	}
	out := make([]int, 0, len(in))
	for pid := range in {
		out = append(out, pid)
	}
	return out
}

// procStat parses /proc/<pid>/stat: state, parent, process group. The command name may hold spaces and
// parentheses, so fields are counted after the last ')'.
func procStat(pid int) (state byte, ppid, pgrp int, ok bool) {
	f := statFields(pid)
	if len(f) < 3 {
		return 0, 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	pgrp, _ = strconv.Atoi(f[2])
	return f[0][0], ppid, pgrp, true
}

func startTicks(pid int) uint64 {
	f := statFields(pid)
	if len(f) < 20 {
		return 0
	}
	v, _ := strconv.ParseUint(f[19], 10, 64)
	return v
}

func statFields(pid int) []string {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return nil
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}

func readCmdline(pid int) string {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil {
		return ""
	}
	return string(bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
}
