// Package local is the compute driver that runs each instance on this host: a trove-guestagent process (and the
// database server it starts) bound to its own loopback address, with its "volume" a directory. Guest
// configuration is written exactly where a VM would find it (relative to the instance directory).
//
// Isolation ([local] isolation = true, the default): the taskmanager runs unprivileged, and the one privileged
// step is trove-local-helper (helper.go), run through `[local] root_helper` (sudo, one sudoers rule; Nova's and
// Trove's rootwrap model) with a fixed, validated command set. Each instance gets a Unix user of its own
// (trove-<26 hex digits of its id>, uid 200000–299999, created at create, deleted at delete — also after a failed
// or interrupted create, and orphans at taskmanager start). Its guest agent and database server run as that
// user, with no supplementary groups and no_new_privs, in a mount and IPC namespace of their own and a PID
// namespace where the host allows one (helper_ns.go): their root is a tmpfs holding read-only binds of /usr,
// a few /etc files (no secrets), a private /tmp and /dev/shm, a fresh /proc and their own instance directory;
// /etc/trove, /var/log/trove, /var/lib/trove-deploy, /run/mysqld and every other instance do not exist there.
// On the host, the instance directory stays the control plane's (group: the instance, 0750), its etc/ is
// readable by the instance (conf.d writable: key rotation), and data/ is the instance's own (0700); at delete
// every file of the instance's user is handed back to the control plane before the user is removed. The
// network is shared (loopback address per instance; RabbitMQ on 127.0.0.1). On top, MariaDB runs with
// secure_file_priv confined to <data>/files, and a PostgreSQL superuser's file access (COPY … TO/FROM a file or
// PROGRAM, pg_read_file) reaches only what the instance's user sees: its own instance.
package local

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"gopkg.in/ini.v1"

	"github.com/trove-go/trove/pkg/compute"
	"github.com/trove-go/trove/pkg/config"
)

// Config is the [local] / [local_images] / [local_flavors] configuration of the driver.
type Config struct {
	StateDir         string            // [local] state_dir; instances live in <state_dir>/instances/<id>
	AddressPool      netip.Prefix      // [local] address_pool
	GuestAgentBinary string            // [local] guest_agent_binary
	Images           map[string]string // [local_images] image id → server binary dir
	Flavors          []compute.Flavor  // [local_flavors] id = name, ram_mb, vcpus, disk_gb
	StopTimeout      time.Duration     // [local] stop_timeout: SIGTERM → SIGKILL grace
	// RootHelper ([local] root_helper) is the command that runs trove-local-helper as root, e.g. "sudo -n
	// /usr/local/sbin/trove-local-helper". Set, every instance runs as a Unix user of its own in namespaces of
	// its own (isolation.go); empty ([local] isolation = false, or a Config built by hand in tests), guests run
	// as the taskmanager's own user with the host's whole view — for development only.
	RootHelper []string
}

// DefaultFlavors are offered when [local_flavors] is empty (Nova's classic sizes).
var DefaultFlavors = []compute.Flavor{
	{ID: "1", Name: "m1.tiny", RAM: 512, VCPUs: 1, Disk: 1},
	{ID: "2", Name: "m1.small", RAM: 2048, VCPUs: 1, Disk: 20},
	{ID: "3", Name: "m1.medium", RAM: 4096, VCPUs: 2, Disk: 40},
	{ID: "4", Name: "m1.large", RAM: 8192, VCPUs: 4, Disk: 80},
	{ID: "5", Name: "m1.xlarge", RAM: 16384, VCPUs: 8, Disk: 160},
}

// ConfigFrom reads the driver configuration. The guest binary defaults to trove-guestagent next to the running
// executable.
func ConfigFrom(f *config.File) (Config, error) {
	c := Config{
		StateDir:         f.String("local", "state_dir", "/var/lib/trove/local"),
		GuestAgentBinary: f.String("local", "guest_agent_binary", ""),
		StopTimeout:      f.Seconds("local", "stop_timeout", 10),
		Images:           map[string]string{},
	}
	if f.Bool("local", "isolation", true) {
		c.RootHelper = strings.Fields(f.String("local", "root_helper", DefaultRootHelper))
		if len(c.RootHelper) == 0 {
			return c, fmt.Errorf("[local] root_helper is empty while isolation is on: set it (default %q) or isolation = false", DefaultRootHelper)
		}
	}
	pool := f.String("local", "address_pool", "127.77.0.0/16")
	p, err := netip.ParsePrefix(pool)
	if err != nil || !p.Addr().Is4() || !p.Addr().IsLoopback() || p.Bits() > 30 {
		return c, fmt.Errorf("[local] address_pool = %q: want an IPv4 loopback prefix of at least 4 addresses", pool)
	}
	c.AddressPool = p.Masked()
	if c.GuestAgentBinary == "" {
		exe, err := os.Executable()
		if err != nil {
			return c, fmt.Errorf("[local] guest_agent_binary unset and own executable unknown: %w", err)
		}
		c.GuestAgentBinary = filepath.Join(filepath.Dir(exe), "trove-guestagent")
	}
	images, err := sectionKeys(f, "local_images")
	if err != nil {
		return c, err
	}
	for _, k := range images {
		c.Images[k] = f.String("local_images", k, "")
	}
	flavors, err := sectionKeys(f, "local_flavors")
	if err != nil {
		return c, err
	}
	for _, k := range flavors {
		fl, err := parseFlavor(k, f.String("local_flavors", k, ""))
		if err != nil {
			return c, err
		}
		c.Flavors = append(c.Flavors, fl)
	}
	if len(c.Flavors) == 0 {
		c.Flavors = DefaultFlavors
	}
	return c, f.Err()
}

// sectionKeys lists the option names of a section across the loaded files (pkg/config has no key listing).
func sectionKeys(f *config.File, section string) ([]string, error) {
	seen := map[string]bool{}
	var keys []string
	for _, src := range f.Sources() {
		cfg, err := ini.LoadSources(ini.LoadOptions{AllowPythonMultilineValues: true, SpaceBeforeInlineComment: true}, src)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", src, err)
		}
		sec, err := cfg.GetSection(section)
		if err != nil {
			continue
		}
		for _, k := range sec.KeyStrings() {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	sort.Strings(keys)
	return keys, nil
}

func parseFlavor(id, v string) (compute.Flavor, error) {
	parts := strings.Split(v, ",")
	if len(parts) != 4 {
		return compute.Flavor{}, fmt.Errorf("[local_flavors] %s = %q: want name, ram_mb, vcpus, disk_gb", id, v)
	}
	fl := compute.Flavor{ID: id, Name: strings.TrimSpace(parts[0])}
	for i, dst := range []*int{&fl.RAM, &fl.VCPUs, &fl.Disk} {
		n, err := strconv.Atoi(strings.TrimSpace(parts[i+1]))
		if err != nil || n < 0 {
			return compute.Flavor{}, fmt.Errorf("[local_flavors] %s = %q: field %d is not a count", id, v, i+2)
		}
		*dst = n
	}
	return fl, nil
}

// DefaultRootHelper is [local] root_helper's default: the helper make run installs, through its sudoers rule.
const DefaultRootHelper = "sudo -n /usr/local/sbin/" + HelperName

// Driver implements compute.Driver on this host.
type Driver struct {
	cfg     Config
	log     logrus.FieldLogger
	systemd bool
	mu      sync.Mutex // serialises state access within the process; flock does it across processes
	addrs   addrCache  // ServerAddresses' in-memory copy of state.json's addresses
}

var _ compute.Driver = (*Driver)(nil)

// New returns a driver. Guests are supervised by systemd when it is PID 1, else as detached sessions.
func New(cfg Config, log logrus.FieldLogger) *Driver {
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = 10 * time.Second
	}
	return &Driver{cfg: cfg, log: log.WithField("component", "compute.local"), systemd: systemdIsInit()}
}

func (d *Driver) instanceDir(id string) string { return filepath.Join(d.cfg.StateDir, "instances", id) }

// InstanceDir is where an instance's files live (exposed for operators and tests).
func (d *Driver) InstanceDir(id string) string { return d.instanceDir(id) }

func (d *Driver) dataDir(id string) string { return filepath.Join(d.instanceDir(id), "data") }

func checkID(id string) error {
	if id == "" || strings.ContainsAny(id, "/\\ \t\n") || id == "." || id == ".." {
		return fmt.Errorf("invalid id %q", id)
	}
	return nil
}

// ResolveImage maps an image id to the host directory with the datastore server binaries.
func (d *Driver) ResolveImage(_ context.Context, imageID string) (compute.Image, error) {
	dir, ok := d.cfg.Images[imageID]
	if !ok {
		known := slices.Sorted(maps.Keys(d.cfg.Images))
		return compute.Image{}, fmt.Errorf("image %q: %w (the local driver knows [local_images] %s)",
			imageID, compute.ErrNotFound, strings.Join(known, ", "))
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return compute.Image{}, fmt.Errorf("image %q: server binary directory %s is missing", imageID, dir)
	}
	return compute.Image{ID: imageID, Name: imageID, ServerBinDir: dir}, nil
}

// ListFlavors returns the configured flavors.
func (d *Driver) ListFlavors(context.Context) ([]compute.Flavor, error) {
	return append([]compute.Flavor(nil), d.cfg.Flavors...), nil
}

// GetFlavor returns one flavor.
func (d *Driver) GetFlavor(_ context.Context, id string) (compute.Flavor, error) {
	for _, f := range d.cfg.Flavors {
		if f.ID == id {
			return f, nil
		}
	}
	return compute.Flavor{}, fmt.Errorf("flavor %q: %w", id, compute.ErrNotFound)
}
