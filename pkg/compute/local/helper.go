package local

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/trove-go/trove/pkg/compute"
)

// The root helper (trove-local-helper) is the only privileged step of the local driver, in the manner of
// Nova's and Trove's rootwrap: the taskmanager (user trove) runs it through one sudoers rule, and it accepts a
// fixed command set whose every argument is validated here. Nothing it is given names a host path: the
// instance is a canonical lower-case UUID, the instance directory is derived from the state directory (fixed
// under sudo), the Unix user from the instance id, and the guest agent binary must be a root-owned file no one
// else can replace. It never follows a symbolic link inside the instance directory (every file is reached from
// a directory descriptor with O_NOFOLLOW), and it only ever hands files between the control plane's user and
// the instance's user. Commands:
//
//	check                  root, useradd/userdel, namespaces usable; prints "ok pidns=<bool>"
//	list                   the instance ids that have a Unix user
//	create  <id>           the instance's Unix user and group (idempotent)
//	start   <id> <agent> [<project>]
//	                       give the instance its files, start its guest agent in new mount/PID/IPC namespaces as
//	                       its user (detached), record <instance dir>/guest.pid; prints the pid. With a project,
//	                       the project's directory of the backup store (<state dir>/../backups/<project>, made
//	                       when missing) is the only one of that store mounted into the guest
//	stop    <id> <seconds> SIGTERM the guest, SIGKILL whatever of the user is left after <seconds>
//	destroy <id>           kill everything of the user, give its files back to the control plane, delete the user,
//	                       its memory cgroup and its iptables rules
//	memlimit, access       helper_limits.go
//
// `--state-dir DIR` (tests, non-default layouts) is accepted only from root itself, never through sudo.

// projectRe is what a project id may look like to name its backup directory.
var projectRe = regexp.MustCompile(`^[0-9A-Za-z_-]{1,64}$`)

// DefaultStateDir is [local] state_dir's default and the only state directory the helper serves through sudo.
const DefaultStateDir = "/var/lib/trove/local"

// HelperName is the helper's program name; the test binary acts as the helper when invoked under it.
const HelperName = "trove-local-helper"

const (
	userPrefix   = "trove-"
	userComment  = "trove local instance "
	instUIDMin   = 200000
	instUIDMax   = 299999
	useraddPath  = "/usr/sbin/useradd"
	userdelPath  = "/usr/sbin/userdel"
	groupdelPath = "/usr/sbin/groupdel"
	maxStopWait  = 10 * time.Minute
)

var instanceIDPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// ValidInstanceID accepts only canonical lower-case UUIDs (the instance ids trove-api hands out).
func ValidInstanceID(id string) error {
	if !instanceIDPattern.MatchString(id) {
		return fmt.Errorf("instance id %q is not a lower-case UUID", id)
	}
	return nil
}

// InstanceUser is the Unix user (and group) of an isolated instance: "trove-" and the first 26 hex digits of
// its id (32 characters, useradd's limit). The full id is kept in the account's comment and checked.
func InstanceUser(id string) string {
	return userPrefix + strings.ReplaceAll(id, "-", "")[:26]
}

// helperCmd is one validated helper invocation.
type helperCmd struct {
	name     string
	id       string
	agent    string
	timeout  time.Duration
	stateDir string
	project  string         // start, init: the instance's project (its backup directory)
	memoryMB int            // memlimit
	addr     netip.Addr     // access
	ports    []int          // access
	cidrs    []netip.Prefix // access; none = unrestricted
}

// parseHelperArgs validates argv (without the program name). viaSudo forbids --state-dir.
func parseHelperArgs(args []string, viaSudo bool) (helperCmd, error) {
	c := helperCmd{stateDir: DefaultStateDir}
	if len(args) >= 2 && args[0] == "--state-dir" {
		if viaSudo {
			return c, errors.New("--state-dir is refused through sudo: the helper serves " + DefaultStateDir)
		}
		d := args[1]
		if !filepath.IsAbs(d) || filepath.Clean(d) != d || d == "/" {
			return c, fmt.Errorf("--state-dir %q: want a clean absolute path", d)
		}
		c.stateDir, args = d, args[2:]
	}
	if len(args) == 0 {
		return c, errors.New("usage: " + HelperName + " [--state-dir DIR] check|list|create ID|start ID AGENT|stop ID SECONDS|destroy ID|memlimit ID MB|access ID ADDR PORTS CIDRS")
	}
	c.name = args[0]
	want := map[string]int{"check": 1, "list": 1, "create": 2, "destroy": 2, "start": 3, "stop": 3, "init": 3, "probe": 1, "memlimit": 3, "access": 5}
	n, ok := want[c.name]
	if !ok {
		return c, fmt.Errorf("unknown command %q", c.name)
	}
	if (c.name == "start" || c.name == "init") && len(args) == n+1 {
		c.project, args = args[n], args[:n]
		if !projectRe.MatchString(c.project) {
			return c, fmt.Errorf("project %q: want 1 to 64 of A-Z a-z 0-9 _ -", c.project)
		}
	}
	if len(args) != n {
		return c, fmt.Errorf("%s takes %d argument(s), got %d", c.name, n-1, len(args)-1)
	}
	if n >= 2 {
		c.id = args[1]
		if err := ValidInstanceID(c.id); err != nil {
			return c, err
		}
	}
	switch c.name {
	case "start", "init":
		c.agent = args[2]
		if !filepath.IsAbs(c.agent) || filepath.Clean(c.agent) != c.agent {
			return c, fmt.Errorf("guest agent %q: want a clean absolute path", c.agent)
		}
	case "stop":
		s, err := strconv.Atoi(args[2])
		if err != nil || s < 0 || time.Duration(s)*time.Second > maxStopWait {
			return c, fmt.Errorf("stop timeout %q: want whole seconds, 0 to %d", args[2], int(maxStopWait.Seconds()))
		}
		c.timeout = time.Duration(s) * time.Second
	case "memlimit", "access":
		if err := c.parseLimitArgs(args); err != nil {
			return c, err
		}
	}
	return c, nil
}

// HelperMain runs the helper; it returns the process exit status.
func HelperMain(args []string, stdout, stderr io.Writer) int {
	// sudo always sets SUDO_UID (the caller cannot unset it): the mark of an unprivileged caller.
	c, err := parseHelperArgs(args, os.Getenv("SUDO_UID") != "")
	if err == nil && os.Geteuid() != 0 {
		err = errors.New("must run as root (the taskmanager runs it through sudo)")
	}
	if err == nil {
		err = c.run(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", HelperName, err)
		return 1
	}
	return 0
}

func (c helperCmd) run(stdout io.Writer) error {
	switch c.name {
	case "check":
		return c.check(stdout)
	case "probe":
		return probeNamespace()
	case "list":
		// Only the instances of this state directory (a test's helper never sees the deployment's users).
		accts, err := instanceAccounts()
		for _, a := range accts {
			if fi, serr := os.Lstat(filepath.Join(c.instancesDir(), a.instanceID())); serr == nil && fi.IsDir() {
				fmt.Fprintln(stdout, a.instanceID())
			}
		}
		return err
	case "create":
		return createAccount(c.id)
	case "start":
		return c.start(stdout)
	case "init":
		return c.initGuest()
	case "stop":
		return c.stop()
	case "destroy":
		return c.destroy()
	case "memlimit":
		return c.memlimit()
	case "access":
		return c.access()
	}
	return fmt.Errorf("unknown command %q", c.name)
}

func (c helperCmd) instancesDir() string { return filepath.Join(c.stateDir, "instances") }
func (c helperCmd) instanceDir() string  { return filepath.Join(c.instancesDir(), c.id) }

// --- accounts -----------------------------------------------------------------------------------------------

type account struct {
	name     string
	uid, gid int
	comment  string
}

func (a account) instanceID() string { return strings.TrimPrefix(a.comment, userComment) }

// accounts parses /etc/passwd (the helper creates local users only; NSS is not consulted).
func accounts() ([]account, error) {
	f, err := os.Open("/etc/passwd")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []account
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		p := strings.Split(sc.Text(), ":")
		if len(p) < 7 {
			continue
		}
		uid, err1 := strconv.Atoi(p[2])
		gid, err2 := strconv.Atoi(p[3])
		if err1 != nil || err2 != nil {
			continue
		}
		out = append(out, account{name: p[0], uid: uid, gid: gid, comment: p[4]})
	}
	return out, sc.Err()
}

// instanceAccount returns the instance's account; ok is false when it does not exist. An account of that name
// that does not belong to the instance is an error.
func instanceAccount(id string) (account, bool, error) {
	all, err := accounts()
	if err != nil {
		return account{}, false, err
	}
	name := InstanceUser(id)
	for _, a := range all {
		if a.name != name {
			continue
		}
		if a.comment != userComment+id || a.uid < instUIDMin || a.uid > instUIDMax {
			return a, false, fmt.Errorf("user %s exists but is not the user of instance %s (uid %d, comment %q)", name, id, a.uid, a.comment)
		}
		return a, true, nil
	}
	return account{}, false, nil
}

// instanceAccounts lists every account the helper created.
func instanceAccounts() ([]account, error) {
	all, err := accounts()
	var out []account
	for _, a := range all {
		if strings.HasPrefix(a.name, userPrefix) && strings.HasPrefix(a.comment, userComment) &&
			ValidInstanceID(a.instanceID()) == nil && InstanceUser(a.instanceID()) == a.name {
			out = append(out, a)
		}
	}
	return out, err
}

func createAccount(id string) error {
	for attempt := 0; ; attempt++ {
		if _, ok, err := instanceAccount(id); ok || err != nil {
			return err
		}
		cmd := exec.Command(useraddPath, "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
			"--user-group", "--no-log-init", "--comment", userComment+id,
			"-K", fmt.Sprintf("UID_MIN=%d", instUIDMin), "-K", fmt.Sprintf("UID_MAX=%d", instUIDMax),
			"-K", fmt.Sprintf("GID_MIN=%d", instUIDMin), "-K", fmt.Sprintf("GID_MAX=%d", instUIDMax),
			"-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0", "-K", "MAIL_DIR=/nonexistent", InstanceUser(id))
		cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"}
		out, err := cmd.CombinedOutput()
		if err == nil {
			return nil
		}
		// Concurrent useradd calls fail on the passwd/group locks: try again.
		if attempt >= 30 {
			return fmt.Errorf("useradd %s: %v: %s", InstanceUser(id), err, bytes.TrimSpace(out))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func deleteAccount(a account) error {
	for attempt := 0; ; attempt++ {
		cmd := exec.Command(userdelPath, a.name)
		cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"}
		out, err := cmd.CombinedOutput()
		if err == nil {
			break
		}
		if _, ok, _ := instanceAccount(a.instanceID()); !ok {
			break
		}
		if attempt >= 30 {
			return fmt.Errorf("userdel %s: %v: %s", a.name, err, bytes.TrimSpace(out))
		}
		time.Sleep(100 * time.Millisecond)
	}
	// userdel removes the user's own group when nobody else uses it; make sure of it.
	if b, err := os.ReadFile("/etc/group"); err == nil && bytes.Contains(b, []byte("\n"+a.name+":")) {
		out, err := exec.Command(groupdelPath, a.name).CombinedOutput()
		if err != nil {
			return fmt.Errorf("groupdel %s: %v: %s", a.name, err, bytes.TrimSpace(out))
		}
	}
	return nil
}

// --- processes of an account -----------------------------------------------------------------------------------

// accountProcs lists the live processes with uid among their real, effective or saved user ids.
func accountProcs(uid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/status")
		if err != nil {
			continue
		}
		var uids []string
		zombie := false
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "Uid:"); ok {
				uids = strings.Fields(v)
			}
			if v, ok := strings.CutPrefix(l, "State:"); ok {
				s := strings.TrimSpace(v)
				zombie = strings.HasPrefix(s, "Z") || strings.HasPrefix(s, "X")
			}
		}
		if zombie || len(uids) < 3 {
			continue
		}
		for _, u := range uids[:3] {
			if u == strconv.Itoa(uid) {
				out = append(out, pid)
				break
			}
		}
	}
	return out
}

// killAccount SIGKILLs every process of uid (and the recorded namespace init) until none is left.
func killAccount(uid, initPID int) error {
	if initPID > 0 {
		_ = syscall.Kill(initPID, syscall.SIGKILL)
	}
	for round := 0; round < 200; round++ {
		pids := accountProcs(uid)
		if len(pids) == 0 {
			return nil
		}
		for _, p := range pids {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("processes %v of uid %d survive SIGKILL", accountProcs(uid), uid)
}

// recordedInit returns the pid in <instance dir>/guest.pid when that process still is the one started (same
// start time), else 0.
func recordedInit(instFD int) int {
	b, err := readAt(instFD, "guest.pid")
	if err != nil {
		return 0
	}
	var pid int
	var start uint64
	if _, err := fmt.Sscan(string(b), &pid, &start); err != nil || pid <= 1 || !alive(pid) || startTime(pid) != start {
		return 0
	}
	return pid
}

func (c helperCmd) stop() error {
	a, ok, err := instanceAccount(c.id)
	if !ok {
		return err
	}
	init := 0
	if fd, _, err := openInstanceDir(c.stateDir, c.id); err == nil {
		init = recordedInit(fd)
		syscall.Close(fd)
	}
	pids := accountProcs(a.uid)
	if len(pids) == 0 && init == 0 {
		return nil
	}
	if init > 0 {
		_ = syscall.Kill(init, syscall.SIGTERM) // the namespace init forwards it to the guest agent
	} else {
		for _, p := range pids {
			_ = syscall.Kill(p, syscall.SIGTERM)
		}
	}
	deadline := time.Now().Add(c.timeout)
	for time.Now().Before(deadline) && (len(accountProcs(a.uid)) > 0 || (init > 0 && alive(init))) {
		time.Sleep(50 * time.Millisecond)
	}
	if init > 0 && !alive(init) {
		init = 0
	}
	return killAccount(a.uid, init)
}

func (c helperCmd) destroy() error {
	a, ok, err := instanceAccount(c.id)
	if !ok {
		if err == nil { // a create that failed before the user: its rules and cgroup may still exist
			err = errors.Join(c.removeAccess(), c.removeCgroup())
		}
		return err
	}
	if err := c.removeAccess(); err != nil {
		return err
	}
	fd, owner, err := openInstanceDir(c.stateDir, c.id)
	init := 0
	if err == nil {
		init = recordedInit(fd)
	}
	if kerr := killAccount(a.uid, init); kerr != nil {
		if fd >= 0 {
			syscall.Close(fd)
		}
		return kerr
	}
	if err := c.removeCgroup(); err != nil {
		if fd >= 0 {
			syscall.Close(fd)
		}
		return err
	}
	switch {
	case err == nil:
		// Hand every file of the instance's user back to the control plane (its volume may outlive the server).
		rerr := reown(fd, a.uid, a.gid, owner.uid, owner.gid, 0)
		syscall.Close(fd)
		if rerr != nil {
			return rerr
		}
	case !errors.Is(err, syscall.ENOENT):
		return err
	}
	return deleteAccount(a)
}

// --- the instance directory, reached without following links ----------------------------------------------------

// openInstanceDir opens <stateDir>/instances/<id> component by component with O_NOFOLLOW and returns its
// descriptor and the owner of the instances directory (the control plane's user), which must also own the
// instance directory.
func openInstanceDir(stateDir, id string) (int, account, error) {
	fd, err := syscall.Open("/", syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return -1, account{}, err
	}
	var owner account
	parts := append(strings.Split(strings.TrimPrefix(stateDir, "/"), "/"), "instances", id)
	for i, p := range parts {
		next, err := openDirAt(fd, p)
		syscall.Close(fd)
		if err != nil {
			return -1, account{}, fmt.Errorf("opening %s: %w", filepath.Join(append([]string{"/"}, parts[:i+1]...)...), err)
		}
		fd = next
		var st syscall.Stat_t
		if err := syscall.Fstat(fd, &st); err != nil {
			syscall.Close(fd)
			return -1, account{}, err
		}
		switch i {
		case len(parts) - 2:
			owner = account{uid: int(st.Uid), gid: int(st.Gid)}
		case len(parts) - 1:
			if int(st.Uid) != owner.uid {
				syscall.Close(fd)
				return -1, account{}, fmt.Errorf("instance directory of %s is owned by uid %d, not by the owner of the instances directory (%d)", id, st.Uid, owner.uid)
			}
		}
	}
	return fd, owner, nil
}

func openDirAt(dirfd int, name string) (int, error) {
	return syscall.Openat(dirfd, name, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
}

func readAt(dirfd int, name string) ([]byte, error) {
	fd, err := syscall.Openat(dirfd, name, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 4096))
}

// names lists a directory through a duplicate of its descriptor.
func names(dirfd int) ([]string, error) {
	dup, err := syscall.Dup(dirfd)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(dup), "dir")
	defer f.Close()
	return f.Readdirnames(-1)
}

// reown gives every entry under dirfd owned by fromUID (fromGID) to toUID (toGID), links themselves included,
// never following one.
func reown(dirfd, fromUID, fromGID, toUID, toGID, depth int) error {
	if depth > 64 {
		return errors.New("directory tree too deep")
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(dirfd, &st); err != nil {
		return err
	}
	if err := chownMatching(&st, func(u, g int) error { return syscall.Fchown(dirfd, u, g) }, fromUID, fromGID, toUID, toGID); err != nil {
		return err
	}
	ns, err := names(dirfd)
	if err != nil {
		return err
	}
	for _, n := range ns {
		if err := lstatAt(dirfd, n, &st); err != nil {
			continue
		}
		if st.Mode&syscall.S_IFMT == syscall.S_IFDIR {
			sub, err := openDirAt(dirfd, n)
			if err != nil {
				continue // replaced meanwhile
			}
			err = reown(sub, fromUID, fromGID, toUID, toGID, depth+1)
			syscall.Close(sub)
			if err != nil {
				return err
			}
			continue
		}
		if err := chownMatching(&st, func(u, g int) error {
			return syscall.Fchownat(dirfd, n, u, g, _AT_SYMLINK_NOFOLLOW)
		}, fromUID, fromGID, toUID, toGID); err != nil && !errors.Is(err, syscall.ENOENT) {
			return err
		}
	}
	return nil
}

const _AT_SYMLINK_NOFOLLOW = 0x100

// lstatAt is fstatat(dirfd, name, st, AT_SYMLINK_NOFOLLOW).
func lstatAt(dirfd int, name string, st *syscall.Stat_t) error {
	p, err := syscall.BytePtrFromString(name)
	if err != nil {
		return err
	}
	_, _, e := syscall.Syscall6(syscall.SYS_NEWFSTATAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)),
		uintptr(unsafe.Pointer(st)), _AT_SYMLINK_NOFOLLOW, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

func chownMatching(st *syscall.Stat_t, chown func(u, g int) error, fromUID, fromGID, toUID, toGID int) error {
	u, g := -1, -1
	if int(st.Uid) == fromUID {
		u = toUID
	}
	if int(st.Gid) == fromGID {
		g = toGID
	}
	if u == -1 && g == -1 {
		return nil
	}
	return chown(u, g)
}

// grant gives the instance its files before a start: the instance directory and its etc/ tree stay the control
// plane's but become readable by the instance's group (conf.d also writable: the guest rewrites guest_info.conf
// when its key rotates); the volume directory (data/) becomes the instance's own. A volume still owned by the
// control plane (an instance from before isolation, or a volume handed back at delete) is given over whole.
func grant(instFD int, owner, inst account) error {
	if err := syscall.Fchown(instFD, owner.uid, inst.gid); err != nil {
		return err
	}
	if err := syscall.Fchmod(instFD, 0o750); err != nil {
		return err
	}
	confDir := strings.Split(strings.Trim(filepath.Dir(compute.GuestConfigPath), "/"), "/") // etc trove conf.d
	fd, err := syscall.Dup(instFD)
	if err != nil {
		return err
	}
	for i, p := range confDir {
		next, err := openDirAt(fd, p)
		syscall.Close(fd)
		if errors.Is(err, syscall.ENOENT) {
			break
		}
		if err != nil {
			return fmt.Errorf("opening %s: %w", strings.Join(confDir[:i+1], "/"), err)
		}
		fd = next
		mode := uint32(0o750)
		if i == len(confDir)-1 {
			mode = 0o770
			err = grantFiles(fd, owner, inst)
		}
		if err == nil {
			err = fchownMode(fd, owner, inst.gid, mode)
		}
		if err != nil {
			syscall.Close(fd)
			return err
		}
		if i == len(confDir)-1 {
			syscall.Close(fd)
		}
	}
	data, err := openDirAt(instFD, "data")
	if errors.Is(err, syscall.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("opening the volume directory: %w", err)
	}
	defer syscall.Close(data)
	var st syscall.Stat_t
	if err := syscall.Fstat(data, &st); err != nil {
		return err
	}
	switch int(st.Uid) {
	case inst.uid:
		return nil
	case owner.uid:
		if err := reown(data, owner.uid, owner.gid, inst.uid, inst.gid, 0); err != nil {
			return err
		}
		return syscall.Fchmod(data, 0o700)
	}
	return fmt.Errorf("the volume directory is owned by uid %d, neither the control plane's nor the instance's", st.Uid)
}

// grantFiles makes the control plane's regular files in dirfd readable by the instance's group.
func grantFiles(dirfd int, owner, inst account) error {
	ns, err := names(dirfd)
	if err != nil {
		return err
	}
	for _, n := range ns {
		fd, err := syscall.Openat(dirfd, n, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
		if err != nil {
			continue // a link, or gone
		}
		var st syscall.Stat_t
		err = syscall.Fstat(fd, &st)
		if err == nil && st.Mode&syscall.S_IFMT == syscall.S_IFREG && int(st.Uid) == owner.uid {
			err = fchownMode(fd, owner, inst.gid, 0o640)
		}
		syscall.Close(fd)
		if err != nil {
			return err
		}
	}
	return nil
}

func fchownMode(fd int, owner account, gid int, mode uint32) error {
	if err := syscall.Fchown(fd, owner.uid, gid); err != nil {
		return err
	}
	return syscall.Fchmod(fd, mode)
}

// checkAgent requires the guest agent to be a root-owned executable that only root can replace: a regular file
// whose every ancestor directory is root-owned and not writable by others (or sticky, like /tmp).
func checkAgent(path string) error {
	st, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("guest agent: %w", err)
	}
	sys, _ := st.Sys().(*syscall.Stat_t)
	if !st.Mode().IsRegular() || sys == nil || sys.Uid != 0 || st.Mode().Perm()&0o022 != 0 || st.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("guest agent %s must be a root-owned executable regular file writable only by root", path)
	}
	for d := filepath.Dir(path); ; d = filepath.Dir(d) {
		st, err := os.Lstat(d)
		if err != nil {
			return fmt.Errorf("guest agent: %w", err)
		}
		sys, _ := st.Sys().(*syscall.Stat_t)
		if !st.IsDir() || sys == nil || sys.Uid != 0 || (st.Mode().Perm()&0o022 != 0 && st.Mode()&os.ModeSticky == 0) {
			return fmt.Errorf("guest agent %s: directory %s must be root-owned and writable only by root", path, d)
		}
		if d == "/" {
			return nil
		}
	}
}

func (c helperCmd) check(stdout io.Writer) error {
	for _, p := range []string{useraddPath, userdelPath, groupdelPath} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%s is missing (apt-get install passwd)", p)
		}
	}
	if st, err := os.Stat(c.instancesDir()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	} else if err == nil && !st.IsDir() {
		return fmt.Errorf("%s is not a directory", c.instancesDir())
	}
	pidns, err := startProbe()
	if err != nil {
		return fmt.Errorf("this host does not let root create mount namespaces (%v): the local driver cannot isolate instances", err)
	}
	fmt.Fprintf(stdout, "ok pidns=%t\n", pidns)
	return nil
}
