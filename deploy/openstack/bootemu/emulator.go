package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/sirupsen/logrus"
	"gopkg.in/ini.v1"
)

// The emulator's root:
//
//	<root>/state.json                     what it started (server id → record), for adoption after a restart
//	<root>/servers/<server id>/           the machine's "/": the user_data files, guest.log, guest.pid
//	<root>/servers/<server id>/data/      the data disk of a server without a volume
//	<root>/volumes/<volume id>/           the data disk of a server whose first attached volume it is
const (
	machineConfName = "zz-machine.conf"
	confDir         = "etc/trove/conf.d"
	retryAfter      = 10 * time.Second
	// claimKey, in a server's metadata, names the root of the only emulator that plays that server; servers
	// without it are every emulator's (there is normally one, the test bed's).
	claimKey = "trove_boot_emulator_root"
)

// Record is what the emulator remembers of a machine it booted.
type Record struct {
	InstanceID  string   `json:"instance_id,omitempty"`
	ImageID     string   `json:"image_id"`
	FlavorID    string   `json:"flavor_id"`
	UserDataSum string   `json:"user_data_sha256"`
	Updated     string   `json:"updated"`
	Actions     []string `json:"actions"` // request ids of the instance actions already acted on
	VolumeID    string   `json:"volume_id,omitempty"`
	DataDir     string   `json:"data_dir"`
	Addr        string   `json:"addr"`
	Guest       Proc     `json:"guest"`
	NoGuest     string   `json:"no_guest,omitempty"` // why the machine runs no guest ("" = it does)
	BinDir      string   `json:"server_bin_dir,omitempty"`
	SizeGB      int      `json:"volume_size_gb"`
}

// Emulator plays the hypervisor for the test bed's servers.
type Emulator struct {
	Root       string
	Launcher   Launcher
	UID, GID   int               // owner of machine files (the guest's user); -1 = leave as created
	BinDirs    map[string]string // datastore_manager → server binary directory
	MgmtNet    string            // name of the management network (its addresses are not the guest's)
	StopWait   time.Duration     // SIGTERM → SIGKILL
	StopOnExit bool              // Run stops every guest when it returns (else they run on, adopted at restart)
	Log        logrus.FieldLogger
	Cloud      cloudAPI
	mu         sync.Mutex // records, volumes, retryAt: Step and RefreshVolumes run concurrently
	records    map[string]*Record
	volumes    map[string]int       // volume id → size GB, from the last listing
	retryAt    map[string]time.Time // server id → when a failed boot may be tried again
}

// cloudAPI is what the emulator asks of the test bed (Cloud).
type cloudAPI interface {
	Servers(ctx context.Context) ([]Server, error)
	Actions(ctx context.Context, serverID string) ([]Action, error)
	VolumeSizes(ctx context.Context) (map[string]int, error)
}

func (e *Emulator) statePath() string          { return filepath.Join(e.Root, "state.json") }
func (e *Emulator) serverDir(id string) string { return filepath.Join(e.Root, "servers", id) }
func (e *Emulator) volumeDir(id string) string { return filepath.Join(e.Root, "volumes", id) }
func (e *Emulator) confDir(id string) string {
	return filepath.Join(e.serverDir(id), filepath.FromSlash(confDir))
}
func (e *Emulator) pidPath(id string) string      { return filepath.Join(e.serverDir(id), "guest.pid") }
func (e *Emulator) guestLogPath(id string) string { return filepath.Join(e.serverDir(id), "guest.log") }

// Load reads the state file and creates the root's directories (0711: the guest's user traverses them).
func (e *Emulator) Load() error {
	e.records, e.retryAt = map[string]*Record{}, map[string]time.Time{}
	for _, d := range []string{e.Root, filepath.Join(e.Root, "servers"), filepath.Join(e.Root, "volumes")} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return err
		}
		if err := os.Chmod(d, 0o711); err != nil {
			return err
		}
	}
	b, err := os.ReadFile(e.statePath())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &e.records); err != nil {
		return fmt.Errorf("%s: %w", e.statePath(), err)
	}
	for id, r := range e.records {
		alive := r.Guest.Alive()
		e.log(id, r.InstanceID).WithField("pid", r.Guest.PID).WithField("alive", alive).Info("adopted machine from the state file")
	}
	return nil
}

func (e *Emulator) save() error {
	b, err := json.MarshalIndent(e.records, "", "  ")
	if err != nil {
		return err
	}
	tmp := e.statePath() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, e.statePath())
}

func (e *Emulator) log(serverID, instanceID string) logrus.FieldLogger {
	return e.Log.WithField("server_id", serverID).WithField("instance_id", instanceID)
}

// Step lists the servers once and brings every machine in line with its server.
func (e *Emulator) Step(ctx context.Context) error {
	list, err := e.Cloud.Servers(ctx)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	seen := map[string]bool{}
	for _, s := range list {
		if claim := s.Metadata[claimKey]; claim != "" && claim != e.Root {
			continue // another emulator's machine (a test's emulator beside the test bed's)
		}
		seen[s.ID] = true
		if err := e.reconcile(ctx, s); gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
			e.log(s.ID, s.InstanceID()).WithError(err).Debug("server deleted while looked at")
		} else if err != nil {
			e.log(s.ID, s.InstanceID()).WithError(err).Error("machine")
			e.retryAt[s.ID] = time.Now().Add(retryAfter)
		}
	}
	for id, r := range e.records {
		if !seen[id] {
			e.teardown(id, r, "server gone")
		}
	}
	return e.save()
}

func (e *Emulator) reconcile(ctx context.Context, s Server) error {
	r := e.records[s.ID]
	switch s.Status {
	case "ACTIVE", "VERIFY_RESIZE": // a resized machine runs while the resize waits for its confirmation
	case "DELETED", "SOFT_DELETED":
		if r != nil {
			e.teardown(s.ID, r, "server "+strings.ToLower(s.Status))
		}
		return nil
	case "SHUTOFF", "SUSPENDED", "PAUSED", "SHELVED", "SHELVED_OFFLOADED", "REBOOT", "HARD_REBOOT", "REBUILD",
		"RESIZE", "MIGRATING", "RESCUE":
		if r != nil && r.Guest.Alive() {
			e.stop(s.ID, r, "server "+s.Status)
		}
		return nil
	default: // BUILD, ERROR, UNKNOWN…: leave the machine as it is
		return nil
	}
	if time.Now().Before(e.retryAt[s.ID]) {
		return nil
	}
	if r == nil {
		acts, err := e.Cloud.Actions(ctx, s.ID)
		if err != nil {
			return err
		}
		return e.boot(ctx, s, nil, acts, "server "+s.Status)
	}
	rebuild, restart := "", ""
	sum := userDataSum(s)
	switch {
	case s.ImageID() != r.ImageID:
		rebuild = "image changed (rebuild)"
	case sum != r.UserDataSum:
		rebuild = "user_data changed (rebuild)"
	case s.Flavor.ID != r.FlavorID:
		restart = "flavor changed (resize)"
	}
	acts := []Action(nil)
	if s.Updated != r.Updated {
		var err error
		if acts, err = e.Cloud.Actions(ctx, s.ID); err != nil {
			return err
		}
		done := map[string]bool{}
		for _, id := range r.Actions {
			done[id] = true
		}
		for _, a := range acts {
			if done[a.RequestID] {
				continue
			}
			switch a.Name {
			case "rebuild", "evacuate":
				rebuild = or(rebuild, a.Name)
			case "reboot", "resize", "revertResize", "migrate", "unshelve", "unrescue":
				restart = or(restart, a.Name)
			}
		}
		r.Updated = s.Updated
		r.Actions = actionIDs(acts)
	}
	switch {
	case rebuild != "":
		e.stop(s.ID, r, rebuild)
		return e.boot(ctx, s, r, acts, rebuild)
	case restart != "":
		e.stop(s.ID, r, restart)
		r.FlavorID = s.Flavor.ID
		return e.start(s, r, restart)
	case r.NoGuest == "" && !r.Guest.Alive():
		return e.start(s, r, "guest not running while the server is "+s.Status)
	}
	return nil
}

func actionIDs(acts []Action) []string {
	ids := make([]string, len(acts))
	for i, a := range acts {
		ids[i] = a.RequestID
	}
	return ids
}

func userDataSum(s Server) string {
	if s.UserData == nil {
		return ""
	}
	h := sha256.Sum256([]byte(*s.UserData))
	return hex.EncodeToString(h[:])
}

// boot lays out a fresh machine for s (first boot, or a rebuild: the root disk is replaced, the data disk kept)
// and starts its guest. old is the previous record (nil on first boot).
func (e *Emulator) boot(ctx context.Context, s Server, old *Record, acts []Action, why string) error {
	// A server that carries no Trove guest (no user_data, another kind of user_data, no datastore_manager)
	// boots a machine that runs nothing: its files are laid out, no guest is started, and it is not retried.
	var files []File
	noGuest := ""
	if s.UserData == nil || *s.UserData == "" {
		noGuest = "no user_data"
	} else if raw, err := base64.StdEncoding.DecodeString(*s.UserData); err != nil {
		noGuest = "user_data is not base64: " + err.Error()
	} else if files, err = ParseCloudConfig(raw); err != nil {
		noGuest = err.Error()
	} else if datastoreManager(files) == "" {
		noGuest = "no [DEFAULT] datastore_manager in the user_data's " + "/" + confDir + "/*.conf"
	}
	addr := s.Address(e.MgmtNet)
	if addr == "" && noGuest == "" {
		return fmt.Errorf("no fixed IPv4 address outside the management network %q", e.MgmtNet)
	}
	r := &Record{InstanceID: s.InstanceID(), ImageID: s.ImageID(), FlavorID: s.Flavor.ID, UserDataSum: userDataSum(s),
		Updated: s.Updated, Actions: actionIDs(acts), VolumeID: s.VolumeID(), Addr: addr, NoGuest: noGuest}
	if old != nil && old.Updated == s.Updated {
		r.Actions = old.Actions
	}
	dir := e.serverDir(s.ID)
	if old == nil {
		// A guest started just before the emulator died (before state.json recorded it) would run twice.
		lost := &Record{InstanceID: r.InstanceID, Guest: readPidFile(e.pidPath(s.ID)), DataDir: e.dataDirOf(s.ID, r.VolumeID)}
		e.stop(s.ID, lost, "a guest the state file does not know")
	}
	if err := e.wipeRootDisk(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return err
	}
	if err := e.chown(dir); err != nil {
		return err
	}
	if err := Layout(dir, files, e.UID, e.GID); err != nil {
		return err
	}
	if err := mkdirAllOwned(dir, e.confDir(s.ID), e.UID, e.GID); err != nil {
		return err
	}
	r.DataDir = e.dataDirOf(s.ID, r.VolumeID)
	if err := os.MkdirAll(r.DataDir, 0o711); err != nil {
		return err
	}
	if err := e.chown(r.DataDir); err != nil {
		return err
	}
	e.records[s.ID] = r
	if noGuest != "" {
		e.log(s.ID, r.InstanceID).WithField("reason", noGuest).Info("machine without a Trove guest: it runs nothing")
		return e.save()
	}
	manager := datastoreManager(files)
	binDir, ok := e.BinDirs[manager]
	if !ok {
		return fmt.Errorf("no server binary directory for datastore_manager %q (flag -server-bin-dir %s=DIR)", manager, manager)
	}
	r.BinDir = binDir
	if r.VolumeID != "" {
		r.SizeGB = e.volumeSize(ctx, r.VolumeID)
	}
	if err := e.writeMachineConf(s.ID, r); err != nil {
		return err
	}
	e.log(s.ID, r.InstanceID).WithField("files", len(files)).WithField("addr", addr).WithField("data_dir", r.DataDir).
		WithField("reason", why).Info("machine laid out from user_data")
	return e.start(s, r, why)
}

// dataDirOf is the data disk of a server: its volume's directory, else data/ in its root disk.
func (e *Emulator) dataDirOf(id, volumeID string) string {
	if volumeID != "" {
		return e.volumeDir(volumeID)
	}
	return filepath.Join(e.serverDir(id), "data")
}

// readPidFile reads a guest.pid ("<pid> <start time>"); a zero Proc when absent or unreadable.
func readPidFile(path string) Proc {
	var p Proc
	b, err := os.ReadFile(path)
	if err != nil {
		return Proc{}
	}
	if _, err := fmt.Sscan(string(b), &p.PID, &p.Start); err != nil {
		return Proc{}
	}
	return p
}

// wipeRootDisk empties a server directory except its data disk (a rebuild keeps it) and the guest's log.
func (e *Emulator) wipeRootDisk(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, ent := range ents {
		if ent.Name() == "data" || ent.Name() == "guest.log" {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, ent.Name())); err != nil {
			return err
		}
	}
	return nil
}

// writeMachineConf writes the machine's facts for the guest — its address, data disk, disk size and where the
// datastore's binaries are — in a file of its own that sorts after every user_data file of the config dir.
func (e *Emulator) writeMachineConf(id string, r *Record) error {
	text := fmt.Sprintf("# Written by trove-boot-emulator: facts of the emulated machine of server %s (not from user_data).\n"+
		"[local]\nbind_host = %s\ndata_dir = %s\nvolume_size_gb = %d\nserver_bin_dir = %s\n", id, r.Addr, r.DataDir, r.SizeGB, r.BinDir)
	p := filepath.Join(e.confDir(id), machineConfName)
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		return err
	}
	if err := e.chown(tmp); err != nil {
		return err
	}
	return os.Rename(tmp, p) // the guest never reads half a file
}

// volumeSize is the size of a volume in GB from the last listing (listed again when unknown), 0 if Cinder
// does not have it.
func (e *Emulator) volumeSize(ctx context.Context, id string) int {
	if _, ok := e.volumes[id]; !ok {
		e.collectVolumes(ctx)
	}
	return e.volumes[id]
}

// followVolumeSizes rewrites volume_size_gb of each machine whose volume Cinder has extended (the guest
// re-reads it at resize_fs).
func (e *Emulator) followVolumeSizes() (changed bool) {
	for id, r := range e.records {
		size, ok := e.volumes[r.VolumeID]
		if r.VolumeID == "" || r.NoGuest != "" || !ok || size == r.SizeGB {
			continue
		}
		old := r.SizeGB
		r.SizeGB, changed = size, true
		if err := e.writeMachineConf(id, r); err != nil {
			e.log(id, r.InstanceID).WithError(err).Error("writing the new volume size")
			continue
		}
		e.log(id, r.InstanceID).WithField("volume_id", r.VolumeID).WithField("from_gb", old).WithField("to_gb", size).
			Info("volume size changed: volume_size_gb rewritten")
	}
	return changed
}

// datastoreManager is [DEFAULT] datastore_manager from the *.conf files the user_data puts in
// /etc/trove/conf.d (read in name order, later ones win, as the guest reads them).
func datastoreManager(files []File) string {
	var confs []File
	for _, f := range files {
		if path.Dir(f.Path) == "/"+confDir && strings.HasSuffix(f.Path, ".conf") {
			confs = append(confs, f)
		}
	}
	sort.Slice(confs, func(i, j int) bool { return confs[i].Path < confs[j].Path })
	manager := ""
	for _, f := range confs {
		cfg, err := ini.LoadSources(ini.LoadOptions{AllowPythonMultilineValues: true, SpaceBeforeInlineComment: true}, f.Content)
		if err != nil {
			continue
		}
		if k := cfg.Section("DEFAULT").Key("datastore_manager"); k.String() != "" {
			manager = strings.TrimSpace(k.String())
		}
	}
	return manager
}

func (e *Emulator) start(s Server, r *Record, why string) error {
	id := s.ID
	if r.NoGuest != "" {
		return nil
	}
	p, err := e.Launcher.Start(e.serverDir(id), e.confDir(id), e.guestLogPath(id), e.pidPath(id))
	if err != nil {
		return err
	}
	r.Guest = p
	delete(e.retryAt, id)
	e.log(id, r.InstanceID).WithField("pid", p.PID).WithField("addr", r.Addr).WithField("reason", why).Info("guest agent started")
	return e.save()
}

// stop ends the machine's guest and the database server it started (found by the machine's directories on
// their command lines).
func (e *Emulator) stop(id string, r *Record, why string) {
	markers := []string{e.serverDir(id) + "/", r.DataDir + "/"}
	pids, err := Stop(r.Guest, markers, e.StopWait)
	l := e.log(id, r.InstanceID).WithField("reason", why).WithField("pids", pids)
	if err != nil {
		l.WithError(err).Error("stopping the guest")
		return
	}
	r.Guest = Proc{}
	if len(pids) > 0 {
		l.Info("guest stopped")
	}
}

// teardown stops a deleted server's machine and removes its root disk (a volume's directory stays while
// Cinder has the volume).
func (e *Emulator) teardown(id string, r *Record, why string) {
	e.stop(id, r, why)
	if err := os.RemoveAll(e.serverDir(id)); err != nil {
		e.log(id, r.InstanceID).WithError(err).Error("removing the machine's directory")
		return
	}
	delete(e.records, id)
	delete(e.retryAt, id)
	e.log(id, r.InstanceID).WithField("reason", why).Info("machine removed")
}

// RefreshVolumes lists the volumes and applies what changed: a machine's volume_size_gb follows an extend
// (the guest re-reads it at resize_fs, right after Cinder shows the new size, hence a loop of its own), and
// the directories of volumes Cinder no longer has are removed.
func (e *Emulator) RefreshVolumes(ctx context.Context) {
	sizes, err := e.Cloud.VolumeSizes(ctx)
	if err != nil {
		if ctx.Err() == nil {
			e.Log.WithError(err).Warn("listing volumes")
		}
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.applyVolumes(sizes)
}

// collectVolumes is RefreshVolumes with e.mu held.
func (e *Emulator) collectVolumes(ctx context.Context) {
	sizes, err := e.Cloud.VolumeSizes(ctx)
	if err != nil {
		e.Log.WithError(err).Warn("listing volumes")
		return
	}
	e.applyVolumes(sizes)
}

func (e *Emulator) applyVolumes(sizes map[string]int) {
	e.volumes = sizes
	if e.followVolumeSizes() {
		if err := e.save(); err != nil {
			e.Log.WithError(err).Error("saving the state")
		}
	}
	inUse := map[string]bool{}
	for _, r := range e.records {
		inUse[r.VolumeID] = true
	}
	ents, err := os.ReadDir(filepath.Join(e.Root, "volumes"))
	if err != nil {
		return
	}
	for _, ent := range ents {
		id := ent.Name()
		if _, ok := sizes[id]; ok || inUse[id] {
			continue
		}
		if err := os.RemoveAll(e.volumeDir(id)); err != nil {
			e.Log.WithField("volume_id", id).WithError(err).Error("removing a deleted volume's directory")
			continue
		}
		e.Log.WithField("volume_id", id).Info("volume gone: its directory removed")
	}
}

func (e *Emulator) chown(p string) error {
	if e.UID < 0 {
		return nil
	}
	return os.Lchown(p, e.UID, e.GID)
}

// Run steps every interval, and refreshes the volumes every volInterval, until ctx ends. Machines keep running
// when the emulator stops unless StopOnExit; either way a restarted emulator adopts (or restarts) the guests
// of ACTIVE servers.
func (e *Emulator) Run(ctx context.Context, interval, volInterval time.Duration) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		every(ctx, volInterval, func() { e.RefreshVolumes(ctx) })
	}()
	every(ctx, interval, func() {
		if err := e.Step(ctx); err != nil && ctx.Err() == nil {
			e.Log.WithError(err).Warn("step")
		}
	})
	wg.Wait()
	if e.StopOnExit {
		for id, r := range e.records {
			e.stop(id, r, "emulator exiting (-stop-on-exit)")
		}
		if err := e.save(); err != nil {
			e.Log.WithError(err).Error("saving the state")
		}
	}
}

// every runs f, then again each period (or as soon as f returns when it took longer), until ctx ends.
func every(ctx context.Context, period time.Duration, f func()) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		f()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
