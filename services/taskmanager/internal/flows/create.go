package flows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/compute"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/notification"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/status"
	"github.com/trove-go/trove/pkg/taskapi"
	"github.com/trove-go/trove/services/taskmanager/internal/guestbroker"
)

// CreateInstance builds an instance (states.md §4): volume, server with the injected guest files, prepare, then
// waits until the guest reports running/healthy. Each step is skipped when the row shows it already happened.
func (m *Manager) CreateInstance(ctx context.Context, rc rpc.Context, a taskapi.CreateInstanceArgs) error {
	id := a.InstanceID
	log := m.log(id)
	inst, err := m.Catalog.GetInstance(ctx, id)
	if errors.Is(err, catalog.ErrNotFound) {
		log.Info("instance deleted before the build started")
		return nil
	}
	if err != nil {
		return err
	}
	if inst.Task() != status.TaskBuilding {
		log.WithField("task", inst.Task().Action).Warn("create_instance for an instance that is not building; ignored")
		return nil
	}
	deadline := m.TimeNow().Add(m.Config.UsageTimeout)

	// 0. A replica is seeded from a snapshot backup of its source (replication.go).
	var seed *replicaSeed
	if a.SlaveOfID != nil && *a.SlaveOfID != "" && inst.ComputeInstanceID == "" {
		seed, err = m.replicaSnapshot(ctx, rc, id, *a.SlaveOfID)
		defer m.dropSnapshot(ctx, rc, id, seed)
		if err != nil {
			return m.failBuild(ctx, id, status.TaskBuildingErrorReplica, "Error creating the replication snapshot of the source.", err)
		}
		snap := seed.snapshot.ID
		a.BackupID = &snap
	}

	// 1. Volume.
	if a.VolumeSize != nil && inst.VolumeID == "" {
		vol, err := m.createVolume(ctx, inst, a)
		if err != nil {
			if vol.ID != "" && vol.Status == compute.VolumeError { // a volume in error is of no use: nothing is left behind
				if derr := m.retry(ctx, id, "deleting the failed volume", func() error { return ignoreNotFound(m.Compute.DeleteVolume(ctx, vol.ID)) }); derr != nil {
					log.WithError(derr).Error("the failed volume could not be deleted; deleting the instance retries")
					_ = m.Catalog.SetServer(ctx, id, inst.ComputeInstanceID, vol.ID)
				}
			}
			return m.failBuild(ctx, id, status.TaskBuildingErrorVolume, "Error creating the volume for the instance.", err)
		}
		inst.VolumeID = vol.ID
		if err := m.retry(ctx, id, "recording the volume", func() error { return m.Catalog.SetServer(ctx, id, inst.ComputeInstanceID, vol.ID) }); err != nil {
			return err
		}
	}

	// 2. Server (guest queue pre-created first so prepare cannot be lost).
	if err := m.retry(ctx, id, "recording the RPC envelope", func() error { return m.ensurePeer(ctx, inst) }); err != nil {
		return m.failBuild(ctx, id, status.TaskBuildingErrorServer, "Error recording the instance's RPC envelope.", err)
	}
	guest, codec, err := m.guest(ctx, id)
	if err != nil {
		return m.failBuild(ctx, id, status.TaskBuildingErrorServer, "Error reading the instance's RPC key.", err)
	}
	if inst.ComputeInstanceID == "" {
		srv, err := m.createServer(ctx, inst, a, codec)
		if err != nil {
			return m.failBuild(ctx, id, status.TaskBuildingErrorServer, "Error creating the server for the instance.", err)
		}
		inst.ComputeInstanceID = srv.ID
		if err := m.retry(ctx, id, "recording the server", func() error { return m.Catalog.SetServer(ctx, id, srv.ID, inst.VolumeID) }); err != nil {
			return err
		}
	}
	// A cloud boots asynchronously: the server must be ACTIVE before the guest can run. One that goes ERROR is
	// removed (with what the build created) and its fault becomes the instance's.
	if err := m.awaitServer(ctx, id, inst.ComputeInstanceID, deadline); err != nil {
		msg := "Error creating the server for the instance."
		var sf serverFault
		if errors.As(err, &sf) {
			msg = "Error creating the server for the instance: " + sf.fault
			m.removeBuilt(ctx, inst)
		}
		return m.failBuild(ctx, id, status.TaskBuildingErrorServer, msg, err)
	}

	// Access requested at create (Trove: the port's public address and the security group's CIDRs).
	if err := m.retry(ctx, id, "applying access", func() error { return m.applyAccess(ctx, inst) }); err != nil {
		return m.failBuild(ctx, id, status.TaskBuildingErrorServer, "Error applying the instance's access.", err)
	}

	// 3. Prepare.
	args, err := m.prepareArgs(ctx, inst, a)
	if err == nil && a.BackupID != nil && *a.BackupID != "" {
		args.BackupInfo, err = m.restoreInfo(ctx, rc, *a.BackupID)
		if err == nil && a.RestoreTime != nil && *a.RestoreTime != "" { // point-in-time recovery
			args.BackupInfo["restore_time"] = *a.RestoreTime
		}
	}
	if seed != nil { // Trove's snapshot (without the source's account: attach_replica carries it)
		args.Snapshot = map[string]any{"dataset": map[string]any{"snapshot_id": seed.snapshot.ID}}
	}
	if err != nil {
		return m.failBuild(ctx, id, status.TaskBuildingErrorServer, "Error preparing the guest's arguments.", err)
	}
	// root_enabled_history before prepare goes out: the guest may act on it (and a reader see it) at once
	if a.RootPassword != nil && *a.RootPassword != "" {
		if err := m.Catalog.RecordRoot(ctx, id, rc.UserID); err != nil {
			log.WithError(err).Error("recording root enabled at create")
		}
	}
	if err := m.retry(ctx, id, "casting prepare", func() error { return guest.Prepare(ctx, rc, args) }); err != nil {
		return m.failBuild(ctx, id, status.TaskBuildingErrorServer, "Error sending prepare to the guest.", err)
	}
	log.Info("prepare sent; waiting for the guest")

	// 4. Wait.
	if err := m.waitActive(ctx, rc, id, deadline, ""); err != nil || seed == nil {
		return err
	}
	// 5. A replica follows its source.
	if inst, err := m.Catalog.GetInstance(ctx, id); err != nil || inst.Task() != status.TaskNone {
		return err // deleted or failed meanwhile
	}
	if err := m.attachReplica(ctx, rc, id, seed); err != nil {
		return m.failTask(ctx, id, status.TaskNone, status.TaskBuildingErrorReplica, "Error attaching the replica to its source.", err)
	}
	return nil
}

func (m *Manager) createVolume(ctx context.Context, inst catalog.Instance, a taskapi.CreateInstanceArgs) (compute.Volume, error) {
	spec := compute.VolumeSpec{Name: "trove-" + inst.ID, SizeGB: *a.VolumeSize, InstanceID: inst.ID}
	if a.VolumeType != nil {
		spec.Type = *a.VolumeType
	}
	if a.AvailabilityZone != nil {
		spec.AZ = *a.AvailabilityZone
	}
	var vol compute.Volume
	err := m.retry(ctx, inst.ID, "creating volume", func() (err error) {
		vol, err = m.Compute.CreateVolume(ctx, spec)
		return err
	})
	if err != nil {
		return vol, err
	}
	// Poll until available (volume_time_out).
	deadline := m.TimeNow().Add(m.Config.VolumeTimeout)
	for vol.Status != compute.VolumeAvailable {
		if vol.Status == compute.VolumeError {
			return vol, permanent(fmt.Errorf("volume %s went to error", vol.ID))
		}
		if m.TimeNow().After(deadline) {
			return vol, fmt.Errorf("volume %s not available after %s (status %s)", vol.ID, m.Config.VolumeTimeout, vol.Status)
		}
		if err := sleep(ctx, time.Second); err != nil {
			return vol, err
		}
		if vol, err = m.Compute.GetVolume(ctx, vol.ID); err != nil {
			return vol, err
		}
	}
	return vol, nil
}

func (m *Manager) createServer(ctx context.Context, inst catalog.Instance, a taskapi.CreateInstanceArgs, codec rpc.Codec) (compute.Server, error) {
	ver, err := m.Catalog.GetVersion(ctx, inst.DatastoreVersionID)
	if err != nil {
		return compute.Server{}, err
	}
	files, err := m.guestFiles(ctx, inst, ver)
	if err != nil {
		return compute.Server{}, err
	}
	if err := m.retry(ctx, inst.ID, "creating the guest queue", func() error { return m.precreateGuestQueue(ctx, inst.ID, codec) }); err != nil {
		return compute.Server{}, err
	}
	manager := ver.Manager
	if manager == "" {
		manager = a.DatastoreManager
	}
	spec := compute.ServerSpec{
		InstanceID: inst.ID, Name: inst.Name, ImageID: a.ImageID, VolumeID: inst.VolumeID, UserFiles: files,
		Flavor: compute.Flavor{ID: a.Flavor.ID, Name: a.Flavor.Name, RAM: a.Flavor.RAM, VCPUs: a.Flavor.VCPUs, Disk: a.Flavor.Disk},
		Tags: []string{"trove_instance", "trove_" + manager, "trove_project_id_" + inst.TenantID,
			"trove_instance_id_" + inst.ID},
		Metadata: map[string]string{"trove_project_id": inst.TenantID, "trove_instance_id": inst.ID},
	}
	if a.AvailabilityZone != nil {
		spec.AZ = *a.AvailabilityZone
	}
	spec.ProjectID = inst.TenantID
	for _, n := range a.NICs {
		spec.NICs = append(spec.NICs, compute.NIC{NetworkID: n.NetworkID, SubnetID: n.SubnetID, FixedIP: n.IPAddress})
	}
	spec.Access = &compute.Access{Ports: tcpPorts[manager]}
	if a.Access != nil {
		spec.Access.IsPublic, spec.Access.AllowedCIDRs = a.Access.IsPublic, a.Access.AllowedCIDRs
	}
	if a.Locality != nil && *a.Locality != "" {
		// Trove's server group: one per source instance, its replicas join it.
		spec.Locality, spec.ServerGroup = *a.Locality, "locality_"+inst.ID
		if a.SlaveOfID != nil && *a.SlaveOfID != "" {
			spec.ServerGroup = "locality_" + *a.SlaveOfID
		}
	}
	var srv compute.Server
	err = m.retry(ctx, inst.ID, "creating server", func() (err error) {
		srv, err = m.Compute.CreateServer(ctx, spec)
		return err
	})
	return srv, err
}

// serverFault is a server the compute service put in ERROR: its fault is the tenant's explanation.
type serverFault struct{ id, fault string }

func (e serverFault) Error() string { return fmt.Sprintf("server %s went to ERROR: %s", e.id, e.fault) }

// awaitServer polls the server until ACTIVE (the local driver's are at once; Nova's after scheduling and
// boot). ERROR is permanent (serverFault); the deadline is the build's. SHUTOFF ends the wait too: a server that
// stopped while building (the local driver's guest exited) never becomes ACTIVE by itself, and the guest wait
// fails the build with the server's fault (waitActive) instead of waiting for the whole build deadline.
func (m *Manager) awaitServer(ctx context.Context, id, serverID string, deadline time.Time) error {
	poll := 200 * time.Millisecond
	for {
		srv, err := m.Compute.GetServer(ctx, serverID)
		switch {
		case err != nil && !errors.Is(err, compute.ErrNotFound):
			m.log(id).WithError(err).Warn("reading the server; retrying")
		case err != nil:
			return permanent(fmt.Errorf("server %s disappeared while building", serverID))
		case srv.Status == compute.ServerActive, srv.Status == compute.ServerShutoff:
			return nil
		case srv.Status == compute.ServerError:
			fault := srv.Fault
			if fault == "" {
				fault = "the compute service gave no reason"
			}
			return permanent(serverFault{id: serverID, fault: fault})
		}
		if m.TimeNow().After(deadline) {
			return fmt.Errorf("server %s not ACTIVE before the build deadline (status %s)", serverID, srv.Status)
		}
		if err := sleep(ctx, poll); err != nil {
			return err
		}
		poll = min(poll*2, 2*time.Second)
	}
}

// removeBuilt deletes the server and the volume a failed build created, so a failed instance holds nothing in
// the cloud; the row forgets them only once they are gone (a later delete retries otherwise).
func (m *Manager) removeBuilt(ctx context.Context, inst catalog.Instance) {
	ctx = context.WithoutCancel(ctx)
	log := m.log(inst.ID)
	serverID, volumeID := inst.ComputeInstanceID, inst.VolumeID
	if serverID != "" {
		if err := m.retry(ctx, inst.ID, "deleting the failed server", func() error { return ignoreNotFound(m.Compute.DeleteServer(ctx, serverID)) }); err != nil {
			log.WithError(err).Error("the failed server could not be deleted; deleting the instance retries")
			return
		}
		serverID = ""
	}
	if volumeID != "" {
		if err := m.retry(ctx, inst.ID, "deleting the failed build's volume", func() error { return ignoreNotFound(m.Compute.DeleteVolume(ctx, volumeID)) }); err != nil {
			log.WithError(err).Error("the failed build's volume could not be deleted; deleting the instance retries")
		} else {
			volumeID = ""
		}
	}
	if err := m.Catalog.SetServer(ctx, inst.ID, serverID, volumeID); err != nil {
		log.WithError(err).Error("recording the removed server and volume")
	}
	log.Info("the failed build's server and volume were removed")
}

// precreateGuestQueue declares the guest's queues by starting and stopping a server on its topic (rpc.md §B.1),
// so a cast sent before the guest listens waits in the broker.
func (m *Manager) precreateGuestQueue(ctx context.Context, id string, codec rpc.Codec) error {
	srv := m.Transport.NewServer(rpc.ServerConfig{Topic: guestapi.Topic(id), Server: id, Version: guestapi.Version, Codec: codec, Concurrency: 1})
	if err := srv.Start(ctx); err != nil {
		return err
	}
	return srv.Stop(ctx)
}

// guestFiles renders what cloud-init would write into the guest (states.md §9): guest_info.conf and a copy of
// the controller's guest_config.
func (m *Manager) guestFiles(ctx context.Context, inst catalog.Instance, ver catalog.DatastoreVersion) (map[string]string, error) {
	p, err := peerKeys(ctx, m.Catalog, m.Config.InstRPCKeyEncrKey, inst.ID)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteString("[DEFAULT]\n")
	kv := func(k, v string) { fmt.Fprintf(&b, "%s=%s\n", k, v) }
	kv("guest_id", inst.ID)
	kv("datastore_manager", ver.Manager)
	kv("datastore_version", ver.Version)
	kv("tenant_id", inst.TenantID)
	if ver.RegistryExt != "" {
		kv("datastore_registry_ext", ver.Manager+":"+ver.RegistryExt)
	}
	if ver.ReplStrategy != "" {
		kv("replication_strategy", ver.ReplStrategy)
	}
	sslMode := inst.SSLMode
	if sslMode == "" {
		sslMode = "None"
	}
	kv("ssl_mode", sslMode)
	kv("network_isolation", "False")
	if !p.Keys.Empty() {
		kv("instance_rpc_encr_key", p.Keys.Current)
		kv("instance_rpc_envelope", string(p.Envelope))
	}
	files := map[string]string{compute.GuestInfoPath: b.String()}
	gc, err := m.Config.guestConfig()
	if err != nil {
		return nil, err
	}
	if m.Broker != nil {
		python := p.Agent == guestapi.AgentPython
		err := m.retry(ctx, inst.ID, "creating the guest's broker account", func() (err error) {
			gc, err = m.Broker.GuestConfig(ctx, inst.ID, gc, python)
			if errors.Is(err, guestbroker.ErrPythonGuest) {
				return permanent(err)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	if gc != "" {
		files[compute.GuestConfigPath] = gc
	}
	return files, nil
}

// Datastore mount points (Trove's per-datastore mount_point defaults).
var mountPoints = map[string]string{
	"mysql": "/var/lib/mysql", "mariadb": "/var/lib/mysql", "percona": "/var/lib/mysql",
	"postgresql": "/var/lib/postgresql",
}

func (m *Manager) prepareArgs(ctx context.Context, inst catalog.Instance, a taskapi.CreateInstanceArgs) (guestapi.PrepareArgs, error) {
	ver, err := m.Catalog.GetVersion(ctx, inst.DatastoreVersionID)
	if err != nil {
		return guestapi.PrepareArgs{}, err
	}
	device := "/dev/vdb"
	mount := mountPoints[ver.Manager]
	if mount == "" {
		mount = "/var/lib/" + ver.Manager
	}
	cfg := renderConfig(ver.Manager, a.Flavor.RAM)
	dsVersion := a.DSVersion
	if dsVersion == "" {
		dsVersion = ver.Version
	}
	args := guestapi.PrepareArgs{
		Databases: a.Databases, Users: a.Users, MemoryMB: a.Flavor.RAM, DevicePath: &device, MountPoint: &mount,
		ConfigContents: &cfg, RootPassword: a.RootPassword, Overrides: a.Overrides, DSVersion: &dsVersion,
	}
	if args.Databases == nil {
		args.Databases = []guestapi.Schema{}
	}
	if args.Users == nil {
		args.Users = []guestapi.User{}
	}
	if inst.ConfigurationID != "" { // the attached group as the catalog has it (numbers exact)
		if args.Overrides, _, err = m.Catalog.ConfigurationOverrides(ctx, inst.ConfigurationID, inst.DatastoreVersionID); err != nil {
			return guestapi.PrepareArgs{}, err
		}
	}
	if args.Overrides == nil {
		args.Overrides = map[string]any{}
	}
	if pk := strings.FieldsFunc(ver.Packages, func(r rune) bool { return r == ',' || r == ' ' }); len(pk) > 0 {
		args.Packages = pk
	}
	if len(a.Modules) > 0 && string(a.Modules) != "null" {
		if err := json.Unmarshal(a.Modules, &args.Modules); err != nil {
			return args, permanent(fmt.Errorf("modules: %w", err))
		}
	}
	if len(a.ClusterConfig) > 0 && string(a.ClusterConfig) != "null" {
		if err := json.Unmarshal(a.ClusterConfig, &args.ClusterConfig); err != nil {
			return args, permanent(fmt.Errorf("cluster_config: %w", err))
		}
	}
	return args, args.Validate()
}

// renderConfig is the datastore configuration sent with prepare and after a flavor resize: Trove's templates
// scale on the flavor's RAM; ours sets connection limits and the memory-derived settings of Trove's templates
// (guestapi.FlavorConfiguration: innodb_buffer_pool_size; shared_buffers, effective_cache_size), which our
// guest takes as its base settings (a configuration group still wins).
func renderConfig(manager string, ramMB int) string {
	conns := max(ramMB/512*100, 100)
	switch manager {
	case "mysql", "mariadb", "percona":
		return fmt.Sprintf("[mysqld]\nmax_connections = %d\n", conns) + guestapi.RenderFlavorConfiguration(manager, ramMB)
	case "postgresql":
		return fmt.Sprintf("max_connections = %d\n", conns) + guestapi.RenderFlavorConfiguration(manager, ramMB)
	}
	return ""
}

// waitActive polls the guest status until running/instance ready/healthy (task → NONE), a failure status, or
// the deadline (status `guestagent error`, task 91, fault; timeoutMsg "" is the usage_timeout message).
// usage_sleep_time bounds the poll interval.
func (m *Manager) waitActive(ctx context.Context, rc rpc.Context, id string, deadline time.Time, timeoutMsg string) error {
	poll := min(m.Config.UsageSleepTime, 250*time.Millisecond)
	for {
		inst, err := m.Catalog.GetInstance(ctx, id)
		if errors.Is(err, catalog.ErrNotFound) {
			m.log(id).Info("instance deleted while building")
			return nil
		}
		var st catalog.ServiceStatusRow
		if err == nil {
			st, err = m.Catalog.GetServiceStatus(ctx, id)
		}
		if err != nil {
			// The catalog is ours: keep polling until the deadline (the sweep fails a build left behind).
			m.log(id).WithError(err).Warn("reading the instance while waiting for the guest")
			if !m.TimeNow().Before(deadline) {
				return err
			}
			if err := sleep(ctx, m.Config.UsageSleepTime); err != nil {
				return err
			}
			continue
		}
		if inst.Task() != status.TaskBuilding {
			m.log(id).WithField("task", inst.Task().DBText).Info("task changed while waiting for the guest; stop waiting")
			return nil
		}
		switch st.Status() {
		case status.Running, status.InstanceReady, status.Healthy:
			if f, ok := m.guestFault(ctx, inst); ok { // prepare failed, then the server ran (we missed `failed to spawn`)
				return m.guestBuildFailed(ctx, id, f)
			}
			if err := m.retry(ctx, id, "marking the instance active", func() error {
				_, err := m.Catalog.SetTaskIf(ctx, id, status.TaskBuilding, status.TaskNone)
				return err
			}); err != nil {
				return err
			}
			m.log(id).WithField("guest_status", st.Status().Description).
				WithField("build_seconds", m.TimeNow().Sub(inst.Created).Seconds()).Info("instance is active")
			// Billing starts once the database runs (Trove's wait_for_instance), not at the request.
			m.usage(ctx, rc, inst, notification.EventCreate, status.StatusActive, nil)
			return nil
		case status.New, status.Building, status.Unknown, status.Deleted:
			if inst.ComputeInstanceID != "" {
				// Trove fails on ERROR only; a server that stopped while building will not report either.
				if srv, err := m.Compute.GetServer(ctx, inst.ComputeInstanceID); err == nil &&
					(srv.Status == compute.ServerError || srv.Status == compute.ServerShutoff) {
					return m.buildTimeout(ctx, id, fmt.Sprintf("Server %s went to %s while building: %s", srv.ID, srv.Status, srv.Fault))
				}
			}
		default:
			if f, ok := m.guestFault(ctx, inst); ok {
				return m.guestBuildFailed(ctx, id, f)
			}
			return m.buildTimeout(ctx, id, fmt.Sprintf("The guest reported status %q while building.", st.Status().Description))
		}
		if !m.TimeNow().Before(deadline) {
			if timeoutMsg != "" {
				return m.buildTimeout(ctx, id, timeoutMsg)
			}
			return m.buildTimeout(ctx, id, fmt.Sprintf("The guest did not report running or healthy within usage_timeout (%s); last status %q.",
				m.Config.UsageTimeout, st.Status().Description))
		}
		if err := sleep(ctx, poll); err != nil {
			return err
		}
	}
}

// guestFault is the fault the guest reported while this instance was building (notify_exc_info: prepare names
// each database or user it could not create), if any. Like Trove's save_instance_fault skip_delta, the build's
// failure then keeps the guest's explanation instead of overwriting it with its own.
func (m *Manager) guestFault(ctx context.Context, inst catalog.Instance) (catalog.Fault, bool) {
	f, err := m.Catalog.GetFault(ctx, inst.ID)
	if err != nil {
		if !errors.Is(err, catalog.ErrNotFound) {
			m.log(inst.ID).WithError(err).Warn("reading the instance's fault")
		}
		return catalog.Fault{}, false
	}
	return f, !f.Updated.Before(inst.Created)
}

// guestBuildFailed fails the build with the guest's own fault (task 91 as for any guest failure; the guest's
// status is kept: it tells what it is).
func (m *Manager) guestBuildFailed(ctx context.Context, id string, f catalog.Fault) error {
	var cause error
	if f.Details != "" && f.Details != f.Message {
		cause = errors.New(f.Details)
	}
	return m.failBuild(ctx, id, status.TaskBuildingErrorTimeoutGA, f.Message, cause)
}

// buildTimeout is Trove's update_status_on_fail: status `guestagent error`, task 91 and a fault.
func (m *Manager) buildTimeout(ctx context.Context, id, message string) error {
	ctx = context.WithoutCancel(ctx)
	if err := m.Catalog.SetServiceStatus(ctx, id, status.FailedTimeoutGuestagent); err != nil {
		m.log(id).WithError(err).Error("setting guestagent error status")
	}
	return m.failBuild(ctx, id, status.TaskBuildingErrorTimeoutGA, message, nil)
}
