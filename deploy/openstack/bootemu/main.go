// trove-boot-emulator plays the hypervisor of the OpenStack test bed (deploy/openstack.sh) — test bed only,
// never part of the product. Nova's fake virt driver makes servers ACTIVE without booting anything; this
// program watches the servers (admin, all projects) and, for each ACTIVE one, does what cloud-init and the
// machine's init would: writes the files of its #cloud-config user_data under <root>/servers/<server id>/,
// gives it a data disk (<root>/volumes/<volume id>/), and starts the real trove-guestagent on the server's fixed
// IPv4 address (a 127.x.y.z of its tenant port). It stops the guest (and its database server) on shutoff,
// restarts it on reboot and resize, lays the machine out again on rebuild, and removes it on delete.
//
//	go build -o bin/trove-boot-emulator ./deploy/openstack/bootemu
//	trove-boot-emulator -env /var/lib/trove-openstack/testbed.env
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
)

type binDirFlag map[string]string

func (b binDirFlag) String() string {
	keys := make([]string, 0, len(b))
	for k := range b {
		keys = append(keys, k+"="+b[k])
	}
	sort.Strings(keys)
	return strings.Join(keys, ",")
}

func (b binDirFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" || !filepath.IsAbs(v) {
		return fmt.Errorf("want manager=/absolute/dir, got %q", s)
	}
	b[k] = v
	return nil
}

// defaultBinDirs maps each datastore manager to its server binaries the way deploy/run.sh fills the local
// driver's [local_images]: MariaDB (datastores mariadb and mysql) from /usr/sbin, PostgreSQL from the newest
// /usr/lib/postgresql/<version>/bin.
func defaultBinDirs() map[string]string {
	m := map[string]string{"mariadb": "/usr/sbin", "mysql": "/usr/sbin"}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) < pgVersion(dirs[j]) })
	if n := len(dirs); n > 0 {
		m["postgresql"] = dirs[n-1]
	}
	return m
}

func pgVersion(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "trove-boot-emulator:", err)
		os.Exit(1)
	}
}

func run() error {
	envFile := flag.String("env", "/var/lib/trove-openstack/testbed.env", "test bed environment file (OS_* admin credentials, TESTBED_MGMT_NETWORK_ID)")
	root := flag.String("root", "/var/lib/trove-openstack/machines", "directory of the emulated machines")
	guestagent := flag.String("guestagent", "/usr/local/bin/trove-guestagent", "guest agent binary")
	interval := flag.Duration("interval", 500*time.Millisecond, "poll interval of the servers")
	volInterval := flag.Duration("volume-interval", 100*time.Millisecond, "poll interval of the volumes (an extend's new size must reach the guest before the taskmanager's resize_fs)")
	runAs := flag.String("user", "trove", "user the guests run as (when the emulator runs as root)")
	mgmt := flag.String("mgmt-network", "", "id of the management network (default: TESTBED_MGMT_NETWORK_ID of -env)")
	stopWait := flag.Duration("stop-timeout", 20*time.Second, "SIGTERM → SIGKILL when stopping a guest")
	stopOnExit := flag.Bool("stop-on-exit", false, "stop every guest (and its database server) when the emulator exits; by default they run on and a restarted emulator adopts them")
	debug := flag.Bool("debug", false, "debug logging")
	bins := binDirFlag{}
	flag.Var(bins, "server-bin-dir", "manager=DIR: datastore server binaries of a datastore_manager (repeatable; default mariadb,mysql=/usr/sbin postgresql=newest /usr/lib/postgresql/*/bin)")
	flag.Parse()

	log := logrus.New()
	log.SetFormatter(&logrus.TextFormatter{FullTimestamp: true, TimestampFormat: time.RFC3339Nano})
	if *debug {
		log.SetLevel(logrus.DebugLevel)
	}
	binDirs := defaultBinDirs()
	for k, v := range bins {
		binDirs[k] = v
	}
	env, err := ReadEnvFile(*envFile)
	if err != nil {
		return fmt.Errorf("environment file: %w (start the test bed: flock -o /tmp/trove-deploy.lock bash deploy/openstack.sh start)", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	cloud, err := Connect(ctx, env)
	if err != nil {
		return err
	}
	mgmtName := ""
	if id := or(*mgmt, env["TESTBED_MGMT_NETWORK_ID"]); id != "" {
		if mgmtName, err = cloud.NetworkName(ctx, id); err != nil {
			return fmt.Errorf("management network: %w", err)
		}
	}
	launcher := Launcher{Binary: *guestagent}
	uid, gid := -1, -1
	if os.Geteuid() == 0 && *runAs != "" {
		if launcher.Cred, err = credential(*runAs); err != nil {
			return err
		}
		uid, gid = int(launcher.Cred.Uid), int(launcher.Cred.Gid)
	}
	e := &Emulator{Root: *root, Launcher: launcher, UID: uid, GID: gid, BinDirs: binDirs, MgmtNet: mgmtName,
		StopWait: *stopWait, StopOnExit: *stopOnExit, Log: log, Cloud: cloud}
	if err := e.Load(); err != nil {
		return err
	}
	log.WithField("root", *root).WithField("guestagent", *guestagent).WithField("mgmt_network", mgmtName).
		WithField("server_bin_dirs", binDirFlag(binDirs).String()).Info("boot emulator running")
	e.Run(ctx, *interval, *volInterval)
	log.WithField("guests_stopped", *stopOnExit).Info("boot emulator stopped")
	return nil
}

func credential(name string) (*syscall.Credential, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("guest user: %w (deploy/run.sh creates `trove`)", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}
