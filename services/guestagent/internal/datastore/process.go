package datastore

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
)

// Command is how to run a server or a tool.
type Command struct {
	Path    string
	Args    []string
	RunAs   *syscall.Credential // nil = the agent's own user
	LogFile string              // stdout+stderr appended here; "" = discarded
}

// ProcState is the observed state of the supervised server.
type ProcState int

// Process states.
const (
	NotStarted ProcState = iota
	Alive
	Stopped // exited after Stop, or cleanly on its own
	Died    // killed by a signal or exited non-zero without Stop
)

// Process supervises one long-running server: it starts it as a child that dies with the agent
// (Pdeathsig), reaps it, and remembers whether it ended because we asked.
type Process struct {
	Name    string // for logs and /proc comm matching ("mariadbd", "postgres")
	PIDFile string // where the server writes its pid (used to clean up a leftover server)
	Match   string // text the leftover's command line must contain (its data directory)
	// StopSignal is the server's fast clean-shutdown signal (SIGTERM for mariadbd, SIGINT for postgres, whose
	// SIGTERM waits for clients); also sent when the agent dies. 0 = SIGTERM.
	StopSignal syscall.Signal
	Log        *logrus.Entry

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{}
	state    ProcState
	stopping bool
}

// Start runs c unless the server is already alive. A leftover server from an earlier agent (found through
// PIDFile) is terminated first so the data directory is not used twice.
func (p *Process) Start(c Command) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == Alive {
		return nil
	}
	p.killLeftover()
	cmd := exec.Command(c.Path, c.Args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: p.stopSignal(), Credential: c.RunAs}
	if c.LogFile != "" {
		f, err := os.OpenFile(c.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			return err
		}
		defer f.Close()
		if c.RunAs != nil {
			_ = f.Chown(int(c.RunAs.Uid), int(c.RunAs.Gid))
		}
		cmd.Stdout, cmd.Stderr = f, f
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", p.Name, err)
	}
	p.cmd, p.done, p.state, p.stopping = cmd, make(chan struct{}), Alive, false
	p.Log.WithField("pid", cmd.Process.Pid).Infof("%s started", p.Name)
	go p.reap(cmd, p.done)
	return nil
}

func (p *Process) reap(cmd *exec.Cmd, done chan struct{}) {
	err := cmd.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == cmd {
		if p.stopping || err == nil {
			p.state = Stopped
		} else {
			p.state = Died
		}
		p.Log.WithField("pid", cmd.Process.Pid).WithField("exit", fmt.Sprint(err)).WithField("requested", p.stopping).
			Infof("%s exited", p.Name)
	}
	close(done)
}

func (p *Process) stopSignal() syscall.Signal {
	if p.StopSignal != 0 {
		return p.StopSignal
	}
	return syscall.SIGTERM
}

// State reports the server's state.
func (p *Process) State() ProcState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
}

// PID returns the server's pid while alive, else 0.
func (p *Process) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state != Alive {
		return 0
	}
	return p.cmd.Process.Pid
}

// Stop sends StopSignal and waits up to timeout, then kills the process group.
func (p *Process) Stop(timeout time.Duration) error {
	p.mu.Lock()
	if p.state != Alive {
		p.mu.Unlock()
		return nil
	}
	p.stopping = true
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	_ = cmd.Process.Signal(p.stopSignal())
	select {
	case <-done:
		return nil
	case <-time.After(timeout):
	}
	p.Log.Warnf("%s did not stop within %s; killing it", p.Name, timeout)
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
	return nil
}

// killLeftover terminates a server recorded in PIDFile that is not our child (an earlier agent's server whose
// parent-death signal did not reach it). Called with p.mu held.
func (p *Process) killLeftover() {
	for _, pid := range p.leftovers() {
		p.Log.WithField("pid", pid).Warnf("terminating leftover %s", p.Name)
		_ = syscall.Kill(pid, p.stopSignal())
		for i := 0; i < 300 && processAlive(pid); i++ {
			time.Sleep(100 * time.Millisecond)
		}
		if processAlive(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// leftovers are the servers of an earlier agent still using our data directory: the one its pid file names, and
// (with Match) any other — a server shutting down after its agent died may already have removed its pid file
// while it still holds the data directory.
func (p *Process) leftovers() []int {
	var pids []int
	if b, err := os.ReadFile(p.PIDFile); p.PIDFile != "" && err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 && p.isOurServer(pid) {
			pids = append(pids, pid)
		}
	}
	if p.Match == "" {
		return pids
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 1 || pid == os.Getpid() || slices.Contains(pids, pid) {
			continue
		}
		if p.isOurServer(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// isOurServer checks the process name and that its command line names our pid file's directory tree (Match),
// so a recycled pid of another instance's server is never signalled.
func (p *Process) isOurServer(pid int) bool {
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil || strings.TrimSpace(string(comm)) != p.Name {
		return false
	}
	if p.Match == "" {
		return true
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && namesPath(string(cmdline), p.Match)
}

// namesPath reports whether a NUL-separated command line names dir or a path under it (dir followed by "/", a NUL
// or the end: /x/data does not match /x/data2).
func namesPath(cmdline, dir string) bool {
	for rest := cmdline; ; {
		i := strings.Index(rest, dir)
		if i < 0 {
			return false
		}
		rest = rest[i+len(dir):]
		if rest == "" || rest[0] == '/' || rest[0] == 0 {
			return true
		}
	}
}

func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// state is the field after the parenthesised comm; Z = zombie.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// Run runs a tool to completion, returning its combined output in the error on failure.
func Run(c Command) ([]byte, error) {
	cmd := exec.Command(c.Path, c.Args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.RunAs}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s: %w: %s", filepath.Base(c.Path), err, tail(out, 800))
	}
	return out, nil
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}

// ServiceUser returns the credential to run a datastore as when the agent is root (name must exist);
// nil when the agent is not root (the server then runs as the agent's user).
func ServiceUser(name string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("datastore service user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// FindBinary looks for name in dir (when set), then in the fallback directories, then in PATH.
func FindBinary(dir, name string, fallback ...string) (string, error) {
	for _, d := range append([]string{dir}, fallback...) {
		if d == "" {
			continue
		}
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", errors.New("datastore binary " + name + " not found")
}
