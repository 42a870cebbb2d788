package local

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/trove-go/trove/pkg/compute"
)

// The guest of an isolated instance runs under a small init (this helper, "init" command) that is PID 1 of a
// new PID namespace (when the host allows one) in a new mount and IPC namespace. The init builds a root of its
// own on a tmpfs — read-only binds of /usr and the /bin, /lib… links, a handful of /etc files (library cache,
// time zone, resolver, CA certificates) and generated passwd/group/hosts naming only root and the instance's
// user, a minimal /dev, a fresh /proc, private /tmp, /run and /dev/shm, and the instance directory itself at
// its usual path — then pivots into it, so nothing else of the host (/etc/trove, /var/log/trove,
// /var/lib/trove-deploy, /run/mysqld, other instances, /home, /root) exists for the guest. It starts the guest
// agent as the instance's user with no supplementary groups and no_new_privs (every mount is nosuid), forwards
// SIGTERM/SIGINT/SIGHUP/SIGQUIT to it, reaps orphans, and exits with the agent; the kernel then kills whatever
// is left in the namespace. The init itself stays root so that its zombie, on a host whose PID 1 does not reap,
// never keeps the instance's uid alive; it holds nothing but its log.

const (
	newRootDir = "/run/trove-local-root" // mount point of every guest's root tmpfs (each in its own namespace)
	reportFD   = 3                       // the init reports "ok" or "error: …" to start on this pipe
)

// Linux constants the syscall package lacks.
const (
	prSetNoNewPrivs     = 38
	prSetChildSubreaper = 36
)

func nsFlags(pid bool) uintptr {
	f := uintptr(syscall.CLONE_NEWNS | syscall.CLONE_NEWIPC)
	if pid {
		f |= syscall.CLONE_NEWPID
	}
	return f
}

// selfCommand re-executes this helper (the test binary in tests) under HelperName with args.
func (c helperCmd) selfCommand(args ...string) *exec.Cmd {
	argv := []string{HelperName}
	if c.stateDir != DefaultStateDir {
		argv = append(argv, "--state-dir", c.stateDir)
	}
	return &exec.Cmd{Path: "/proc/self/exe", Args: append(argv, args...),
		Env: []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"}}
}

// startNS starts cmd in new namespaces, without a PID namespace when the host refuses one.
func startNS(cmd *exec.Cmd, extra *syscall.SysProcAttr) (pidns bool, err error) {
	for _, pid := range []bool{true, false} {
		attr := *extra
		attr.Cloneflags = nsFlags(pid)
		cmd.SysProcAttr = &attr
		if err = cmd.Start(); err == nil {
			return pid, nil
		}
		if !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.EPERM) && !errors.Is(err, syscall.ENOSPC) {
			return false, err
		}
		cmd.Process, cmd.ProcessState = nil, nil
	}
	return false, err
}

// startProbe checks that namespaces can be created here (and a tmpfs mounted in them).
func startProbe() (pidns bool, err error) {
	c := helperCmd{stateDir: DefaultStateDir}
	cmd := c.selfCommand("probe")
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if pidns, err = startNS(cmd, &syscall.SysProcAttr{}); err != nil {
		return false, err
	}
	if err := cmd.Wait(); err != nil {
		return false, fmt.Errorf("%v: %s", err, strings.TrimSpace(out.String()))
	}
	return pidns, nil
}

func probeNamespace() error {
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	if err := os.MkdirAll(newRootDir, 0o700); err != nil {
		return err
	}
	if err := syscall.Mount("tmpfs", newRootDir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size=1m"); err != nil {
		return fmt.Errorf("mounting a tmpfs: %w", err)
	}
	if os.Getpid() == 1 {
		if err := os.Mkdir(newRootDir+"/proc", 0o555); err != nil {
			return err
		}
		if err := syscall.Mount("proc", newRootDir+"/proc", "proc", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, ""); err != nil {
			return fmt.Errorf("mounting /proc in a PID namespace: %w", err)
		}
	}
	return nil
}

func (c helperCmd) start(stdout io.Writer) error {
	if err := checkAgent(c.agent); err != nil {
		return err
	}
	a, ok, err := instanceAccount(c.id)
	if !ok {
		if err == nil {
			err = fmt.Errorf("instance %s has no user (create it first)", c.id)
		}
		return err
	}
	if pids := accountProcs(a.uid); len(pids) > 0 {
		return fmt.Errorf("instance %s already runs (processes %v of %s)", c.id, pids, a.name)
	}
	fd, owner, err := openInstanceDir(c.stateDir, c.id)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	if err := grant(fd, owner, a); err != nil {
		return fmt.Errorf("giving instance %s its files: %w", c.id, err)
	}
	lfd, err := syscall.Openat(fd, "guest.log", syscall.O_WRONLY|syscall.O_APPEND|syscall.O_CREAT|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0o640)
	if err != nil {
		return fmt.Errorf("opening guest.log: %w", err)
	}
	logf := os.NewFile(uintptr(lfd), "guest.log")
	defer logf.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(lfd, &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return errors.New("guest.log is not a regular file")
	}
	if err := syscall.Fchown(lfd, owner.uid, owner.gid); err != nil {
		return err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		w.Close()
		return err
	}
	defer devnull.Close()
	if err := c.joinCgroup(); err != nil { // the guest and its database server inherit the flavor's memory limit
		w.Close()
		return fmt.Errorf("joining the memory cgroup of %s: %w", c.id, err)
	}
	initArgs := []string{"init", c.id, c.agent}
	if c.project != "" {
		initArgs = append(initArgs, c.project)
	}
	cmd := c.selfCommand(initArgs...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr, cmd.ExtraFiles = devnull, logf, logf, []*os.File{w}
	_, err = startNS(cmd, &syscall.SysProcAttr{Setsid: true})
	w.Close()
	if err != nil {
		return fmt.Errorf("starting the guest of %s in new namespaces: %w", c.id, err)
	}
	report := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(r, 4096))
		report <- strings.TrimSpace(string(b))
	}()
	var got string
	select {
	case got = <-report:
	case <-time.After(30 * time.Second):
		got = "error: no report from the guest's init within 30 s"
	}
	pid := cmd.Process.Pid
	if !strings.HasPrefix(got, "ok") {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = killAccount(a.uid, 0)
		return fmt.Errorf("starting the guest of %s: %s", c.id, strings.TrimPrefix(got, "error: "))
	}
	rec := fmt.Sprintf("%d %d\n", pid, startTime(pid))
	if err := writeAt(fd, "guest.pid", []byte(rec), owner); err != nil {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		_ = killAccount(a.uid, 0)
		return fmt.Errorf("writing guest.pid: %w", err)
	}
	_ = cmd.Process.Release()
	fmt.Fprintln(stdout, pid)
	return nil
}

// writeAt replaces dirfd/name atomically with a file of owner's (never following a link).
func writeAt(dirfd int, name string, b []byte, owner account) error {
	tmp := "." + name + ".tmp"
	_ = syscall.Unlinkat(dirfd, tmp)
	fd, err := syscall.Openat(dirfd, tmp, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_EXCL|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o640)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), tmp)
	_, err = f.Write(b)
	if err == nil {
		err = f.Chown(owner.uid, owner.gid)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syscall.Renameat(dirfd, tmp, dirfd, name)
	}
	if err != nil {
		_ = syscall.Unlinkat(dirfd, tmp)
	}
	return err
}

// initGuest is the namespace init (see the comment at the top of this file).
func (c helperCmd) initGuest() error {
	var st syscall.Stat_t
	if err := syscall.Fstat(reportFD, &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFIFO {
		return errors.New("init is started by the helper's start command only")
	}
	report := os.NewFile(reportFD, "report")
	syscall.CloseOnExec(reportFD)
	fail := func(err error) error {
		fmt.Fprintf(report, "error: %v\n", err)
		report.Close()
		return err
	}
	runtime.LockOSThread() // prctl and the agent's fork happen on this thread
	a, ok, err := instanceAccount(c.id)
	if !ok {
		if err == nil {
			err = fmt.Errorf("instance %s has no user", c.id)
		}
		return fail(err)
	}
	if err := checkAgent(c.agent); err != nil {
		return fail(err)
	}
	pidns := os.Getpid() == 1
	if err := c.buildRoot(a, pidns); err != nil {
		return fail(fmt.Errorf("building the guest's root: %w", err))
	}
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); e != 0 {
		return fail(fmt.Errorf("PR_SET_CHILD_SUBREAPER: %w", e))
	}
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetNoNewPrivs, 1, 0); e != 0 {
		return fail(fmt.Errorf("PR_SET_NO_NEW_PRIVS: %w", e))
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT)
	dir := c.instanceDir()
	env := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/nonexistent",
		"LANG=C.UTF-8", "USER=" + a.name, "LOGNAME=" + a.name}
	confDir := filepath.Join(dir, filepath.FromSlash(filepath.Dir(compute.GuestConfigPath)))
	agent, err := syscall.ForkExec(c.agent, []string{c.agent, "--config-dir", confDir}, &syscall.ProcAttr{
		Dir: dir, Env: env, Files: []uintptr{0, 1, 2},
		Sys: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL,
			Credential: &syscall.Credential{Uid: uint32(a.uid), Gid: uint32(a.gid), Groups: []uint32{}}},
	})
	if err != nil {
		return fail(fmt.Errorf("starting the guest agent: %w", err))
	}
	fmt.Fprintf(report, "ok %d pidns=%t\n", agent, pidns)
	report.Close()
	go func() {
		for s := range sigs {
			_ = syscall.Kill(agent, s.(syscall.Signal))
		}
	}()
	code := 0
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			break
		}
		if pid != agent {
			continue
		}
		code = ws.ExitStatus()
		if ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
		if pidns {
			break // leaving kills the rest of the namespace
		}
		_ = killAccount(a.uid, 0) // orphans of the agent were re-parented here; reap them below
		go func() { time.Sleep(10 * time.Second); os.Exit(code) }()
	}
	os.Exit(code)
	return nil
}

// buildRoot assembles the guest's root under newRootDir and pivots into it.
func (c helperCmd) buildRoot(a account, pidns bool) error {
	R := newRootDir
	must := func(err error, what string) error {
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	}
	if err := must(syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""), "making mounts private"); err != nil {
		return err
	}
	if err := os.MkdirAll(R, 0o700); err != nil {
		return err
	}
	if err := must(syscall.Mount("tmpfs", R, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "mode=0755,size=4m"), "root tmpfs"); err != nil {
		return err
	}
	// bind mounts src (a file or directory) at the same path under R; ro makes it read-only.
	bind := func(src, target string, extra uintptr) error {
		fi, err := os.Stat(src)
		if err != nil {
			return err
		}
		dst := R + target
		if fi.IsDir() {
			err = os.MkdirAll(dst, 0o755)
		} else if err = os.MkdirAll(filepath.Dir(dst), 0o755); err == nil {
			err = os.WriteFile(dst, nil, 0o444)
		}
		if err != nil {
			return err
		}
		if err := syscall.Mount(src, dst, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s: %w", target, err)
		}
		if err := syscall.Mount("", dst, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_NOSUID|extra, ""); err != nil {
			return fmt.Errorf("remount %s: %w", target, err)
		}
		return nil
	}
	const ro, rw, dev = syscall.MS_RDONLY | syscall.MS_NODEV, syscall.MS_NODEV, 0
	// copyOrBind recreates a link as a link, binds anything else read-only; a missing path is skipped.
	copyOrBind := func(p string) error {
		fi, err := os.Lstat(p)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Dir(R+p), 0o755); err != nil {
				return err
			}
			return os.Symlink(t, R+p)
		}
		return bind(p, p, ro)
	}
	for _, p := range []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
		"/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/timezone",
		"/etc/alternatives", "/etc/resolv.conf", "/etc/host.conf", "/etc/gai.conf", "/etc/services",
		"/etc/protocols", "/etc/ssl/certs"} {
		if err := copyOrBind(p); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	files := map[string]string{
		"/etc/passwd": fmt.Sprintf("root:x:0:0:root:/nonexistent:/usr/sbin/nologin\n%s:x:%d:%d:%s:/nonexistent:/usr/sbin/nologin\n"+
			"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n", a.name, a.uid, a.gid, a.comment),
		"/etc/group":         fmt.Sprintf("root:x:0:\n%s:x:%d:\nnogroup:x:65534:\n", a.name, a.gid),
		"/etc/nsswitch.conf": "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nservices: files\nprotocols: files\n",
		"/etc/hosts":         "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n",
	}
	for p, content := range files {
		if err := os.MkdirAll(filepath.Dir(R+p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(R+p, []byte(content), 0o644); err != nil {
			return err
		}
	}
	// /dev: the harmless nodes, and a private /dev/shm (PostgreSQL's dynamic shared memory).
	if err := os.Mkdir(R+"/dev", 0o755); err != nil {
		return err
	}
	if err := must(syscall.Mount("tmpfs", R+"/dev", "tmpfs", syscall.MS_NOSUID|syscall.MS_NOEXEC, "mode=0755,size=64k"), "/dev"); err != nil {
		return err
	}
	for _, n := range []string{"null", "zero", "full", "random", "urandom", "tty"} {
		if _, err := os.Stat("/dev/" + n); err != nil {
			continue
		}
		if err := bind("/dev/"+n, "/dev/"+n, dev); err != nil {
			return err
		}
	}
	for n, t := range map[string]string{"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"} {
		if err := os.Symlink(t, R+"/dev/"+n); err != nil {
			return err
		}
	}
	for _, m := range []struct{ dir, opts string }{{"/dev/shm", "mode=1777,size=64m"}, {"/tmp", "mode=1777,size=64m"}, {"/run", "mode=0755,size=1m"}} {
		if err := os.MkdirAll(R+m.dir, 0o755); err != nil {
			return err
		}
		if err := must(syscall.Mount("tmpfs", R+m.dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, m.opts), m.dir); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(R+"/var", 0o755); err != nil {
		return err
	}
	if err := os.Symlink("/tmp", R+"/var/tmp"); err != nil {
		return err
	}
	if err := os.Mkdir(R+"/proc", 0o555); err != nil {
		return err
	}
	procOpts := []string{""}
	if !pidns {
		procOpts = []string{"hidepid=invisible", "hidepid=2"} // only the instance's own processes
	}
	var perr error
	for _, o := range procOpts {
		if perr = syscall.Mount("proc", R+"/proc", "proc", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, o); perr == nil {
			break
		}
	}
	if perr != nil {
		return fmt.Errorf("/proc: %w", perr)
	}
	// The instance directory, reached without following links, at its usual path (read-write).
	fd, _, err := openInstanceDir(c.stateDir, c.id)
	if err != nil {
		return err
	}
	err = bind("/proc/self/fd/"+strconv.Itoa(fd), c.instanceDir(), rw)
	syscall.Close(fd)
	if err != nil {
		return err
	}
	// etc/ stays read-only but for conf.d (guest_info.conf is rewritten at key rotation).
	if etc := filepath.Join(c.instanceDir(), "etc"); dirExists(R + etc) {
		if err := bind(R+etc, etc, ro); err != nil {
			return err
		}
		if conf := filepath.Join(c.instanceDir(), filepath.FromSlash(filepath.Dir(compute.GuestConfigPath))); dirExists(R + conf) {
			if err := bind(R+conf, conf, rw); err != nil {
				return err
			}
		}
	}
	if !strings.HasPrefix(c.agent, "/usr/") {
		if err := bind(c.agent, c.agent, ro); err != nil {
			return err
		}
	}
	// The project's backup directory, and no other of the backup store (read-write: the guest writes its
	// backups there and reads them back to restore).
	if c.project != "" {
		dir, err := c.projectBackupDir()
		if err != nil {
			return fmt.Errorf("the backup directory of project %s: %w", c.project, err)
		}
		if err := bind(dir, dir, rw); err != nil {
			return err
		}
	}
	if err := must(syscall.Mount("", R, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY|syscall.MS_NOSUID|syscall.MS_NODEV, ""), "read-only root"); err != nil {
		return err
	}
	if err := os.Chdir(R); err != nil {
		return err
	}
	if err := must(syscall.PivotRoot(".", "."), "pivot_root"); err != nil {
		return err
	}
	if err := must(syscall.Unmount(".", syscall.MNT_DETACH), "detaching the host's root"); err != nil {
		return err
	}
	return os.Chdir("/")
}

// backupsDir is the backup store's directory beside the state directory (/var/lib/trove/backups for
// /var/lib/trove/local): make run's [backup_directory] root.
func (c helperCmd) backupsDir() string { return filepath.Join(filepath.Dir(c.stateDir), "backups") }

// projectBackupDir returns <backups>/<project>, made when missing: owned by the store's owner (the control
// plane's user, which deletes backups) and writable by the project's instances (sticky: an instance cannot
// remove another's objects). Only this directory is mounted into the project's guests, so no instance of another
// project can reach it; on the host the store's own directory (0750) keeps everyone else out. Links are refused.
func (c helperCmd) projectBackupDir() (string, error) {
	root := c.backupsDir()
	var st syscall.Stat_t
	if err := syscall.Lstat(root, &st); err != nil {
		return "", fmt.Errorf("%s: %w (make run creates it)", root, err)
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
		return "", fmt.Errorf("%s is not a directory", root)
	}
	dir := filepath.Join(root, c.project)
	if err := syscall.Mkdir(dir, 0o700); err != nil && !errors.Is(err, syscall.EEXIST) {
		return "", err
	}
	var ds syscall.Stat_t
	if err := syscall.Lstat(dir, &ds); err != nil {
		return "", err
	}
	if ds.Mode&syscall.S_IFMT != syscall.S_IFDIR {
		return "", fmt.Errorf("%s is not a directory", dir)
	}
	if err := syscall.Chown(dir, int(st.Uid), int(st.Gid)); err != nil {
		return "", err
	}
	if err := syscall.Chmod(dir, 0o1777); err != nil {
		return "", err
	}
	return dir, nil
}

func dirExists(p string) bool {
	fi, err := os.Lstat(p)
	return err == nil && fi.IsDir()
}
