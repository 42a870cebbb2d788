package local

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// What the helper enforces per instance beyond its user and namespaces (helper verbs memlimit and access):
//
//	memlimit <id> <MB>                      the flavor's RAM as the memory limit (cgroup v1) of every process of the
//	                                        instance's user; later starts join the same cgroup
//	access   <id> <addr> <ports> <cidrs|->  only sources in cidrs (and the instance's own address) reach the TCP
//	                                        ports of addr; "-" removes the restriction
//
// destroy removes both. Only instance addresses are ever filtered: addr must be a loopback address outside
// 127.0.0.0/24, where the control plane (RabbitMQ, Keystone, the catalog, trove-api) listens.

// memoryCgroupRoot is where the instances' memory cgroups live (cgroup v1 memory controller).
const memoryCgroupRoot = "/sys/fs/cgroup/memory/trove"

// Memory limits the helper accepts (MB).
const (
	minMemoryMB = 64
	maxMemoryMB = 4 << 20 // 4 TiB
)

const (
	iptablesPath        = "/usr/sbin/iptables"
	iptablesRestorePath = "/usr/sbin/iptables-restore"
	// accessChain is the one chain INPUT jumps to (for -i lo); it holds one jump per restricted instance.
	accessChain = "TROVE-INPUT"
	maxPorts    = 8
	maxCIDRs    = 64
)

// controlPlane is the loopback range the control plane uses; no rule ever names an address in it.
var controlPlane = netip.MustParsePrefix("127.0.0.0/24")

// instanceChain is the iptables chain of one instance: TRV- and 24 hex digits of its id (28 characters, the
// chain name limit).
func instanceChain(id string) string { return "TRV-" + strings.ReplaceAll(id, "-", "")[:24] }

func cgroupDir(id string) string { return filepath.Join(memoryCgroupRoot, id) }

// parseLimitArgs validates the arguments of memlimit and access into c.
func (c *helperCmd) parseLimitArgs(args []string) error {
	switch c.name {
	case "memlimit":
		mb, err := strconv.Atoi(args[2])
		if err != nil || mb < minMemoryMB || mb > maxMemoryMB || strconv.Itoa(mb) != args[2] {
			return fmt.Errorf("memory limit %q: want whole MB, %d to %d", args[2], minMemoryMB, maxMemoryMB)
		}
		c.memoryMB = mb
	case "access":
		a, err := netip.ParseAddr(args[2])
		if err != nil || !a.Is4() || !a.IsLoopback() || controlPlane.Contains(a) || a.String() != args[2] {
			return fmt.Errorf("address %q: want an IPv4 loopback address outside %s", args[2], controlPlane)
		}
		c.addr = a
		ports := strings.Split(args[3], ",")
		if len(ports) > maxPorts {
			return fmt.Errorf("at most %d ports", maxPorts)
		}
		for _, p := range ports {
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != p {
				return fmt.Errorf("port %q: want 1 to 65535", p)
			}
			c.ports = append(c.ports, n)
		}
		if args[4] == "-" {
			return nil
		}
		cidrs := strings.Split(args[4], ",")
		if len(cidrs) > maxCIDRs {
			return fmt.Errorf("at most %d CIDRs", maxCIDRs)
		}
		for _, s := range cidrs {
			p, err := netip.ParsePrefix(s)
			if err != nil || !p.Addr().Is4() || p.Masked() != p {
				return fmt.Errorf("CIDR %q: want a canonical IPv4 prefix (host bits zero)", s)
			}
			c.cidrs = append(c.cidrs, p)
		}
	}
	return nil
}

// --- memory -----------------------------------------------------------------------------------------------------

// memlimit sets the instance's memory limit and moves every process of its user into its cgroup.
func (c helperCmd) memlimit() error {
	dir := cgroupDir(c.id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("memory cgroup: %w (is the cgroup v1 memory controller mounted at %s?)", err, filepath.Dir(memoryCgroupRoot))
	}
	limit := strconv.FormatInt(int64(c.memoryMB)<<20, 10)
	if err := os.WriteFile(filepath.Join(dir, "memory.limit_in_bytes"), []byte(limit), 0); err != nil {
		return fmt.Errorf("setting the memory limit of %s to %d MB: %w (usage above it cannot be reclaimed?)", c.id, c.memoryMB, err)
	}
	a, ok, err := instanceAccount(c.id)
	if !ok {
		return err
	}
	pids := accountProcs(a.uid)
	if fd, _, err := openInstanceDir(c.stateDir, c.id); err == nil {
		if init := recordedInit(fd); init > 0 {
			pids = append(pids, init)
		}
		syscall.Close(fd)
	}
	for _, p := range pids {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(p)), 0); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("moving pid %d into the memory cgroup of %s: %w", p, c.id, err)
		}
	}
	return nil
}

// joinCgroup moves the helper itself into the instance's memory cgroup when it has one, so the guest it starts
// (and the database server the guest starts) are limited from their first instruction.
func (c helperCmd) joinCgroup() error {
	dir := cgroupDir(c.id)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(os.Getpid())), 0)
}

// removeCgroup deletes the instance's memory cgroup (its processes are gone).
func (c helperCmd) removeCgroup() error {
	dir := cgroupDir(c.id)
	var err error
	for attempt := 0; attempt < 50; attempt++ {
		if err = syscall.Rmdir(dir); err == nil || errors.Is(err, syscall.ENOENT) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("removing the memory cgroup of %s: %w", c.id, err)
}

// --- access -----------------------------------------------------------------------------------------------------

func iptables(args ...string) (string, error) {
	cmd := exec.Command(iptablesPath, append([]string{"-w", "5"}, args...)...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"}
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("iptables %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out.String(), nil
}

// ensureAccessChain creates TROVE-INPUT and the jump from INPUT for loopback traffic, once.
func ensureAccessChain() error {
	if _, err := iptables("-n", "-L", accessChain); err != nil {
		if _, err := iptables("-N", accessChain); err != nil {
			return err
		}
	}
	if _, err := iptables("-C", "INPUT", "-i", "lo", "-j", accessChain); err != nil {
		if _, err := iptables("-I", "INPUT", "1", "-i", "lo", "-j", accessChain); err != nil {
			return err
		}
	}
	return nil
}

// access replaces the instance's rules: its chain is rewritten in one iptables-restore transaction (never a
// moment without rules), then TROVE-INPUT jumps to it for the instance's address.
func (c helperCmd) access() error {
	if _, err := os.Stat(iptablesPath); err != nil {
		return fmt.Errorf("%s is missing (apt-get install iptables)", iptablesPath)
	}
	if len(c.cidrs) == 0 {
		return c.removeAccess()
	}
	if err := ensureAccessChain(); err != nil {
		return err
	}
	chain := instanceChain(c.id)
	ports := make([]string, len(c.ports))
	for i, p := range c.ports {
		ports[i] = strconv.Itoa(p)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "*filter\n:%s - [0:0]\n", chain)
	for _, p := range c.cidrs {
		fmt.Fprintf(&b, "-A %s -s %s -j RETURN\n", chain, p)
	}
	fmt.Fprintf(&b, "-A %s -s %s/32 -j RETURN\n", chain, c.addr)
	fmt.Fprintf(&b, "-A %s -p tcp -m multiport --dports %s -j REJECT --reject-with tcp-reset\nCOMMIT\n", chain, strings.Join(ports, ","))
	cmd := exec.Command(iptablesRestorePath, "-w", "5", "--noflush")
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"}
	cmd.Stdin = strings.NewReader(b.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("iptables-restore (chain %s): %v: %s", chain, err, bytes.TrimSpace(out))
	}
	jump := []string{accessChain, "-d", c.addr.String() + "/32", "-m", "comment", "--comment", "trove-instance:" + c.id, "-j", chain}
	if _, err := iptables(append([]string{"-C"}, jump...)...); err == nil {
		return nil
	}
	// A jump for another address (none in practice: an instance keeps its address) goes first.
	if err := deleteJumps(chain); err != nil {
		return err
	}
	_, err := iptables(append([]string{"-A"}, jump...)...)
	return err
}

// deleteJumps removes every rule of TROVE-INPUT whose target is chain (by number, last first).
func deleteJumps(chain string) error {
	out, err := iptables("-n", "--line-numbers", "-L", accessChain)
	if err != nil {
		return nil // no TROVE-INPUT: nothing jumps anywhere
	}
	var nums []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[1] == chain {
			nums = append(nums, f[0])
		}
	}
	for i := len(nums) - 1; i >= 0; i-- {
		if _, err := iptables("-D", accessChain, nums[i]); err != nil {
			return err
		}
	}
	return nil
}

// removeAccess deletes the instance's jump and chain; nothing to remove (or no iptables) succeeds.
func (c helperCmd) removeAccess() error {
	if _, err := os.Stat(iptablesPath); err != nil {
		return nil
	}
	chain := instanceChain(c.id)
	if err := deleteJumps(chain); err != nil {
		return err
	}
	if _, err := iptables("-n", "-L", chain); err != nil {
		return nil
	}
	if _, err := iptables("-F", chain); err != nil {
		return err
	}
	_, err := iptables("-X", chain)
	return err
}
