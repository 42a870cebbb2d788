package api

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/compute"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/keyring"
	"github.com/trove-go/trove/pkg/status"
	"github.com/trove-go/trove/pkg/taskapi"
	"github.com/trove-go/trove/services/api/internal/fault"
	"github.com/trove-go/trove/services/api/internal/schema"
)

// loadInstance is the object half of every instance route: the policy check against the caller's own project
// first (so a refused caller learns nothing), then the row, then ownership (another tenant's instance is 404
// unless admin), then the rule again against the real owner.
func (a *API) loadInstance(ctx context.Context, rc *requestContext, rule, id string) (*catalog.Instance, error) {
	if err := a.enforceIf(rc, rule, rc.Token.ProjectID); err != nil {
		return nil, err
	}
	if !canonicalID(id) {
		return nil, fault.NotFound(id)
	}
	row, err := a.cat.GetInstance(ctx, id)
	if errors.Is(err, catalog.ErrNotFound) || (err == nil && !rc.IsAdmin && row.TenantID != rc.Token.ProjectID) {
		return nil, fault.NotFound(id)
	}
	if err != nil {
		return nil, err
	}
	if row.TenantID != rc.Token.ProjectID {
		if err := a.enforceIf(rc, rule, row.TenantID); err != nil {
			return nil, err
		}
	}
	return &row, nil
}

// canonicalID reports whether s is an id as the catalog stores them: a lower-case UUID (8-4-4-4-12 hex digits).
// Every id taken from a path is checked before its lookup: MariaDB compares case-insensitively and ignores
// trailing blanks, so "ABC…" or "abc… " would otherwise reach the object "abc…" (issue 12: a DELETE on an
// upper-cased id deleted the instance). A non-canonical id is the object's 404.
func canonicalID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f'):
			return false
		}
	}
	return true
}

// infos gathers versions (cached), guest statuses and running backups for rows in two bulk queries.
func (a *API) infos(ctx context.Context, rows []catalog.Instance) ([]instanceInfo, error) {
	snap, err := a.ds.get(ctx)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(rows))
	for i := range rows {
		ids[i] = rows[i].ID
	}
	svcs, err := a.cat.ServiceStatuses(ctx, ids)
	if err != nil {
		return nil, err
	}
	backups, err := a.cat.RunningBackups(ctx, ids)
	if err != nil {
		return nil, err
	}
	replicas, err := a.cat.Replicas(ctx, "", ids) // a replica is always of its source's tenant
	if err != nil {
		return nil, err
	}
	out := make([]instanceInfo, len(rows))
	for i := range rows {
		in := instanceInfo{row: &rows[i], backup: backups[rows[i].ID], replicas: replicas[rows[i].ID]}
		if s, ok := svcs[rows[i].ID]; ok {
			in.svc = &s
		}
		a.attachVersion(ctx, snap, &in)
		out[i] = in
	}
	return out, nil
}

// attachVersion fills in the instance's datastore version and datastore name from the cached snapshot.
func (a *API) attachVersion(ctx context.Context, snap *dsSnapshot, in *instanceInfo) {
	id := in.row.DatastoreVersionID
	if v, ok := snap.byID[id]; ok {
		in.version = &v
		if d, ok := snap.find(v.DatastoreID); ok {
			in.dsName = d.Name
		}
		return
	}
	if id == "" {
		return
	}
	// A version created after the snapshot: read it directly.
	if v, err := a.cat.GetVersion(ctx, id); err == nil {
		in.version = &v
		if d, err := a.cat.GetDatastore(ctx, v.DatastoreID); err == nil {
			in.dsName = d.Name
		}
	}
}

// pageLimit reads ?limit= capped at the page size (Trove: min(limit, instances_page_size)).
func (a *API) pageLimit(r *http.Request) (int, error) {
	limit := a.cfg.InstancesPageSize
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := parsePositive(s)
		if err != nil {
			return 0, err
		}
		limit = min(n, limit)
	}
	return limit, nil
}

// parsePositive reads a positive integer query value (400 otherwise; Trove answers 500).
func parsePositive(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, fault.BadRequest("limit must be a positive integer.")
	}
	return n, nil
}

func (a *API) listInstances(detail bool) handlerFunc {
	rule := "instance:index"
	if detail {
		rule = "instance:detail"
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		rc := reqCtx(r)
		if err := a.enforce(rc, rule, rc.Token.ProjectID); err != nil {
			return err
		}
		limit, err := a.pageLimit(r)
		if err != nil {
			return err
		}
		q := r.URL.Query()
		clustered := strings.EqualFold(q.Get("include_clustered"), "true")
		infos, next, err := a.listPage(r.Context(), rc.Token.ProjectID, clustered, limit, q.Get("marker"))
		if err != nil {
			return err
		}
		// The page is selected by id and shown newest first, as in Trove.
		sort.SliceStable(infos, func(i, j int) bool { return infos[i].row.Created.After(infos[j].row.Created) })
		now := a.now()
		var links []link
		if next != "" {
			links = nextLink(r, next, limit)
		}
		addrs := a.listAddresses(r.Context(), rc, infos)
		views := make([]instanceView, len(infos))
		for i := range infos {
			views[i] = a.renderInstance(rc.base, &infos[i], detail, rc.IsAdmin, now)
			if showsAddresses(infos[i].row) {
				setAddresses(&views[i], addrs[infos[i].row.ComputeInstanceID])
			}
		}
		return writeJSON(w, http.StatusOK, instanceList{Instances: views, Links: links})
	}
}

func (a *API) showInstance(w http.ResponseWriter, r *http.Request) error {
	rc := reqCtx(r)
	row, err := a.loadInstance(r.Context(), rc, "instance:show", mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	return a.writeInstance(w, r, rc, row, http.StatusOK, "")
}

// writeInstance renders the detail view of one instance (show and create).
func (a *API) writeInstance(w http.ResponseWriter, r *http.Request, rc *requestContext, row *catalog.Instance, code int, password string) error {
	infos, err := a.infos(r.Context(), []catalog.Instance{*row})
	if err != nil {
		return err
	}
	f, err := a.cat.GetFault(r.Context(), row.ID)
	if err == nil {
		infos[0].fault = &f
	} else if !errors.Is(err, catalog.ErrNotFound) {
		return err
	}
	v := a.renderInstance(rc.base, &infos[0], true, rc.IsAdmin, a.now())
	v.Password = password
	if v.Configuration != nil { // Trove's detail view names the group
		if c, err := a.cat.GetConfiguration(r.Context(), v.Configuration.ID); err == nil {
			v.Configuration.Name = c.Name
		}
	}
	if vol, ok := v.Volume.(*instanceVolume); ok && code == http.StatusOK && password == "" {
		v.Volume = a.addVolumeUsage(r.Context(), rc, row.ID, v.Status, vol)
	}
	a.addAddresses(r.Context(), rc, row, &v)
	if rc.IsAdmin && code == http.StatusOK {
		if v.BackupSchedules, err = a.scheduleViews(r, row.ID); err != nil {
			return err
		}
		h, err := a.cat.GetHealth(r.Context(), row.ID)
		switch {
		case err == nil:
			v.Health = &healthView{Up: h.Up, Connections: h.Connections, ReplicationLag: h.ReplicationLag, Updated: h.UpdatedAt.UTC().Format(timeFormat)}
		case !errors.Is(err, catalog.ErrNotFound):
			return err
		}
	}
	return writeJSON(w, code, map[string]instanceView{"instance": v})
}

// noUsageStatuses are the statuses for which show does not ask the guest for volume usage (Trove's list).
var noUsageStatuses = []string{status.StatusBuild, status.StatusReboot, status.StatusResize, status.StatusPromote,
	status.StatusEject, status.StatusUpgrade, status.StatusShutdown}

// usageTimeout bounds show's guest call. Trove waits up to 15 s; a show should not hang that long on a dead
// guest, so we wait less and omit the usage, as Trove does on failure.
const usageTimeout = 5 * time.Second

// addVolumeUsage is show's get_filesystem_stats call: used (GB), used_percent over statvfs blocks, and the
// manager's extra keys; it returns the volume to show. Failures only omit the usage.
func (a *API) addVolumeUsage(ctx context.Context, rc *requestContext, id, shown string, vol *instanceVolume) any {
	if a.guests == nil || slices.Contains(noUsageStatuses, shown) {
		return vol
	}
	ctx, cancel := context.WithTimeout(ctx, usageTimeout)
	defer cancel()
	g, err := a.guests.Guest(ctx, id)
	if err != nil {
		rc.logger().WithError(err).Warn("volume usage: no guest client")
		return vol
	}
	st, err := g.GetFilesystemStats(ctx, rc.rpcContext())
	if err != nil {
		rc.logger().WithError(err).WithField("instance_id", id).Info("volume usage unavailable")
		return vol
	}
	used := st.Used
	vol.Used = &used
	if denom := st.TotalBlocks - st.FreeBlocks + st.AvailBlocks; denom > 0 {
		pct := math.Round(10000*float64(st.TotalBlocks-st.FreeBlocks)/float64(denom)) / 100
		vol.UsedPercent = &pct
	}
	return vol.withExtra(st.MgrExtraInfo)
}

// Servers is what the API asks the compute driver (compute.Driver, from drivers.FromConfig): one server for
// show, the addresses of a whole page for lists.
type Servers interface {
	GetServer(ctx context.Context, id string) (compute.Server, error)
	compute.AddressLister
}

// showsAddresses: Trove shows ip / addresses for an instance with a server and no DNS hostname.
func showsAddresses(row *catalog.Instance) bool {
	return row.ComputeInstanceID != "" && row.Hostname == ""
}

// setAddresses fills ip / addresses from the server's addresses (IPv4 only, as Trove); neither key without one.
func setAddresses(v *instanceView, addrs []compute.Address) {
	for _, ad := range addrs {
		if ad.Version == 4 && ad.Addr != "" {
			v.IP = append(v.IP, ad.Addr)
			typ := "private"
			if ad.Public {
				typ = "public"
			}
			v.Addresses = append(v.Addresses, addressView{Address: ad.Addr, Type: typ, Network: ad.Network})
		}
	}
}

// addAddresses fills ip / addresses of one instance (show) from the compute server; omitted with a DNS hostname
// or when the server cannot be read.
func (a *API) addAddresses(ctx context.Context, rc *requestContext, row *catalog.Instance, v *instanceView) {
	if a.servers == nil || !showsAddresses(row) {
		return
	}
	srv, err := a.servers.GetServer(ctx, row.ComputeInstanceID)
	if err != nil {
		rc.logger().WithError(err).WithField("instance_id", row.ID).Info("server addresses unavailable")
		return
	}
	setAddresses(v, srv.Addresses)
}

// listAddresses asks the compute driver for the addresses of a whole list page in one call (never one call per
// instance): compute id → addresses. Lists show no addresses without a driver, or when the call fails.
func (a *API) listAddresses(ctx context.Context, rc *requestContext, infos []instanceInfo) map[string][]compute.Address {
	if a.servers == nil {
		return nil
	}
	ids := make([]string, 0, len(infos))
	for i := range infos {
		if showsAddresses(infos[i].row) {
			ids = append(ids, infos[i].row.ComputeInstanceID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	m, err := a.servers.ServerAddresses(ctx, ids)
	if err != nil {
		rc.logger().WithError(err).Info("server addresses unavailable for the instance list")
		return nil
	}
	return m
}

var localities = []string{"affinity", "soft-affinity", "anti-affinity", "soft-anti-affinity"}

func (a *API) createInstance(w http.ResponseWriter, r *http.Request) error {
	rc := reqCtx(r)
	ctx := r.Context()
	if err := a.enforce(rc, "instance:create", rc.Token.ProjectID); err != nil {
		return err
	}
	doc, err := a.readBody(r)
	if err != nil {
		return err
	}
	req, err := schema.ParseCreateInstance(doc)
	if err != nil {
		return err
	}
	if len(req.Databases) > 0 {
		if err := a.enforce(rc, "instance:extension:database:create", rc.Token.ProjectID); err != nil {
			return err
		}
	}
	if len(req.Users) > 0 {
		if err := a.enforce(rc, "instance:extension:user:create", rc.Token.ProjectID); err != nil {
			return err
		}
	}
	var source *catalog.Instance
	if req.ReplicaOf != "" {
		if source, err = a.replicaSource(ctx, rc, req); err != nil {
			return err
		}
	}
	switch {
	case source == nil && req.ReplicaCount > 1:
		return fault.BadRequest("Replica count only valid when creating replicas. Cannot create %d instances.", req.ReplicaCount)
	case len(req.Modules) > 0:
		return fault.NotImplemented("Modules are not supported by this deployment.")
	case req.Locality != "" && !slices.Contains(localities, req.Locality):
		return fault.BadRequest("Locality '%s' is not supported; use one of %s.", req.Locality, strings.Join(localities, ", "))
	}

	ds, version, err := a.datastoreFor(ctx, req.Datastore)
	if source != nil { // a replica runs its source's datastore version, flavor and volume size
		ds, version, err = a.sourceVersion(ctx, source)
		req.FlavorRef, req.HasFlavor = source.FlavorID, true
	}
	if err != nil {
		return err
	}
	if !version.Active {
		return fault.BadRequest("Datastore version '%s' is not active.", version.Name)
	}
	mgr := a.cfg.manager(version.Manager)
	overrides, err := a.createWithConfiguration(ctx, rc, req.Configuration, version.ID)
	if err != nil {
		return err
	}

	// Flavor.
	if !req.HasFlavor {
		return fault.BadRequest("Resource None cannot be found.")
	}
	allowed, err := a.cat.VersionFlavors(ctx, version.ID)
	if err != nil {
		return err
	}
	if len(allowed) > 0 && !slices.Contains(allowed, req.FlavorRef) {
		return fault.BadRequest("Flavor %s is not supported for datastore %s version %s", req.FlavorRef, ds.Name, version.Name)
	}
	flavor, err := a.flavors.GetFlavor(ctx, req.FlavorRef)
	if err != nil {
		return err
	}
	if flavor == nil {
		return fault.BadRequest("Resource %s cannot be found.", req.FlavorRef)
	}

	// Volume.
	volumeSize := 0
	var volumeType *string
	if mgr.VolumeSupport && source != nil {
		volumeSize = source.VolumeSize
	} else if mgr.VolumeSupport {
		if req.Volume == nil {
			return fault.BadRequest("Volume size was not specified.")
		}
		if req.Volume.Size > a.cfg.MaxAcceptedVolumeSize {
			return fault.OverLimit("Volume quota exceeded for instance: requested %d GB, maximum accepted size is %d GB.", req.Volume.Size, a.cfg.MaxAcceptedVolumeSize)
		}
		volumeSize = int(req.Volume.Size)
		if req.Volume.Type != nil {
			types, err := a.cat.VersionVolumeTypes(ctx, version.ID)
			if err != nil {
				return err
			}
			if len(types) > 0 && !slices.Contains(types, *req.Volume.Type) {
				return fault.BadRequest("The volume type %s is not valid for datastore version %s.", *req.Volume.Type, version.ID)
			}
			volumeType = req.Volume.Type
		}
	} else if req.Volume != nil {
		return fault.NotImplemented("Volume support is not enabled for datastore %s.", ds.Name)
	}

	dbs, users, err := checkDatabasesUsers(req, version.Manager, mgr)
	if err != nil {
		return err
	}
	nics, err := checkNics(req.Nics)
	if err != nil {
		return err
	}
	if err := a.checkNetworks(ctx, rc, nics); err != nil {
		return err
	}
	if req.BackupRef != "" {
		if !canonicalID(req.BackupRef) {
			return fault.NotFound(req.BackupRef)
		}
		chain, err := a.restoreChain(ctx, rc, req.BackupRef, version.Manager, volumeSize)
		if err != nil {
			return err
		}
		if err := checkRestoreTime(req.RestoreTime, chain[len(chain)-1], version.Manager, time.Now()); err != nil {
			return err
		}
	}

	if source != nil {
		if err := a.checkCanAct(ctx, source); err != nil { // Trove: the source's validate_can_perform_action
			return err
		}
	}
	// One row per instance: a replica_count of N creates N replicas named <name>-1 … <name>-N (Trove's rule),
	// and the quota is taken for all of them at once.
	count := 1
	if source != nil && req.ReplicaCount > 1 {
		count = int(req.ReplicaCount)
	}
	var access *taskapi.Access
	var accessRow string
	if req.Access != nil {
		if accessRow, access, err = accessJSON(req.Access); err != nil {
			return err
		}
	}
	newRows := make([]catalog.Instance, count)
	for i := range newRows {
		row := catalog.Instance{
			ID: catalog.NewID(), Name: req.Name, FlavorID: flavor.ID, VolumeSize: volumeSize, TenantID: rc.Token.ProjectID,
			DatastoreVersionID: version.ID, RegionID: a.cfg.Region, ConfigurationID: req.Configuration, Access: accessRow,
		}
		if count > 1 {
			row.Name = fmt.Sprintf("%s-%d", req.Name, i+1)
		}
		if source != nil {
			row.SlaveOfID = source.ID
		}
		if a.cfg.EnableSecureRPC {
			key, err := keyring.NewInstanceKey()
			if err != nil {
				return err
			}
			if row.EncryptedKey, err = keyring.Wrap(a.cfg.InstRPCKeyEncrKey, key); err != nil {
				return err
			}
		}
		newRows[i] = row
	}
	deltas := map[string]int{catalog.ResourceInstances: count, catalog.ResourceRAM: count * flavor.RAM, catalog.ResourceVolumes: count * volumeSize}
	rows, err := a.cat.CreateInstance(ctx, catalog.CreateInstanceParams{Instances: newRows, Deltas: deltas, Defaults: a.cfg.Quotas})
	var qe *catalog.QuotaExceededError
	if errors.As(err, &qe) {
		return fault.OverLimit("%s", qe.Error())
	}
	if err != nil {
		return err
	}
	for i := range rows {
		if err := a.castCreate(r, rc, &rows[i], req, version, flavor, createExtras{dbs: dbs, users: users, nics: nics,
			volumeSize: volumeSize, volumeType: volumeType, access: access, overrides: overrides}); err != nil {
			return err
		}
	}
	rc.logger().WithField("instance_id", rows[0].ID).WithField("count", len(rows)).WithField("replica_of", req.ReplicaOf).
		WithField("datastore_version", version.ID).Info("instance create accepted")
	// Trove answers with the view of the first instance created.
	return a.writeInstance(w, r, rc, &rows[0], http.StatusOK, "")
}

// createExtras are the checked parts of a create request castCreate hands on.
type createExtras struct {
	dbs        []taskapi.Database
	users      []taskapi.User
	nics       []taskapi.NIC
	volumeSize int
	volumeType *string
	access     *taskapi.Access
	overrides  map[string]any
}

// castCreate casts create_instance for one created row; a failed cast marks the row failed (the row and its
// quota are committed, so the owner sees ERROR and can delete it).
func (a *API) castCreate(r *http.Request, rc *requestContext, row *catalog.Instance, req *schema.CreateInstance,
	version catalog.DatastoreVersion, flavor *Flavor, x createExtras) error {
	ctx := r.Context()
	dbs, users, nics, volumeSize, volumeType, access, overrides := x.dbs, x.users, x.nics, x.volumeSize, x.volumeType, x.access, x.overrides
	args := taskapi.CreateInstanceArgs{
		InstanceID: row.ID, Name: row.Name, ImageID: version.ImageID, DatastoreManager: version.Manager,
		Flavor:    taskapi.Flavor{ID: flavor.ID, Name: flavor.Name, RAM: flavor.RAM, VCPUs: flavor.VCPUs, Disk: flavor.Disk},
		Databases: dbs, Users: users, NICs: nics, VolumeType: volumeType, Access: access, DSVersion: version.Version,
		Overrides: overrides,
	}
	if args.ImageID == "" {
		args.ImageID = version.ImageTags // the compute driver resolves tags (no Glance lookup in the API)
	}
	if version.Packages != "" {
		p := version.Packages
		args.Packages = &p
	}
	if volumeSize > 0 {
		args.VolumeSize = &volumeSize
	}
	if req.AvailabilityZone != "" {
		az := req.AvailabilityZone
		args.AvailabilityZone = &az
	}
	if req.Locality != "" {
		l := req.Locality
		args.Locality = &l
	}
	castCtx := rc.rpcContext()
	if req.BackupRef != "" {
		id := req.BackupRef
		args.BackupID = &id
		if req.RestoreTime != "" {
			rt := req.RestoreTime
			args.RestoreTime = &rt
		}
		castCtx = backupRPCContext(r, rc) // the guest reads the backup as the user (Swift)
	}
	if row.SlaveOfID != "" {
		src := row.SlaveOfID
		args.SlaveOfID = &src
		castCtx = backupRPCContext(r, rc) // the replica is seeded from a backup of its source (Swift as the user)
	}
	if err := a.tm.CreateInstance(ctx, castCtx, args); err != nil {
		if uerr := a.cat.SetTask(ctx, row.ID, status.TaskBuildingErrorServer); uerr != nil {
			rc.logger().WithError(uerr).Error("marking instance failed after create_instance cast failure")
		}
		_ = a.cat.SaveFault(ctx, row.ID, "Could not hand the instance to the task manager.", err.Error())
		return fmt.Errorf("casting create_instance for %s: %w", row.ID, err)
	}
	return nil
}

// replicaSource applies Trove's rules of a create with replica_of and returns the source instance: no flavor,
// datastore, volume, locality, databases, users or fixed address of its own (400); the source must be the
// caller's live instance (404) and no replica itself (Trove's Forbidden: 401).
func (a *API) replicaSource(ctx context.Context, rc *requestContext, req *schema.CreateInstance) (*catalog.Instance, error) {
	switch {
	case req.HasFlavor:
		return nil, fault.BadRequest("Cannot specify flavor when creating replicas.")
	case req.Datastore != (schema.DatastoreRef{}):
		return nil, fault.BadRequest("Cannot specify datastore when creating replicas.")
	case req.Volume != nil:
		return nil, fault.BadRequest("Cannot specify volume when creating replicas.")
	case req.Locality != "":
		return nil, fault.BadRequest("Cannot specify locality when creating replicas.")
	case req.BackupRef != "":
		return nil, fault.BadRequest("Cannot specify restorePoint when creating replicas.")
	}
	src, err := a.cat.GetInstance(ctx, req.ReplicaOf)
	if errors.Is(err, catalog.ErrNotFound) || (err == nil && src.TenantID != rc.Token.ProjectID) {
		return nil, fault.NotFound(req.ReplicaOf)
	}
	if err != nil {
		return nil, err
	}
	if src.SlaveOfID != "" {
		return nil, fault.New(http.StatusUnauthorized, "Cannot create a replica of a replica %s", src.ID)
	}
	if len(req.Databases) > 0 || len(req.Users) > 0 {
		return nil, fault.BadRequest("Cannot create a replica with users or databases.")
	}
	for _, n := range req.Nics {
		if n.IPAddress != "" {
			return nil, fault.BadRequest("Cannot specify IP address when creating replicas.")
		}
	}
	return &src, nil
}

// sourceVersion is the datastore and version of a replica's source; a version without a replication
// strategy cannot replicate (Trove's ReplicationNotSupported).
func (a *API) sourceVersion(ctx context.Context, src *catalog.Instance) (catalog.Datastore, catalog.DatastoreVersion, error) {
	v, err := a.cat.GetVersion(ctx, src.DatastoreVersionID)
	if err != nil {
		return catalog.Datastore{}, catalog.DatastoreVersion{}, fault.BadRequest("Instance %s has no datastore version.", src.ID)
	}
	ds, v, err := a.resolveVersion(ctx, v.DatastoreID, v.ID)
	if err == nil && v.ReplStrategy == "" {
		err = fault.BadRequest("Replication is not supported for the '%s' datastore.", ds.Name)
	}
	return ds, v, err
}

// datastoreFor resolves a request's datastore block as Trove does: the type (name or id) else
// [DEFAULT] default_datastore; the version (name or id) else the datastore's default; with version_number the
// (name, number) pair. Active is not checked here.
func (a *API) datastoreFor(ctx context.Context, ref schema.DatastoreRef) (catalog.Datastore, catalog.DatastoreVersion, error) {
	dsRef := ref.Type
	if dsRef == "" {
		dsRef = a.cfg.DefaultDatastore
	}
	if dsRef == "" {
		return catalog.Datastore{}, catalog.DatastoreVersion{}, fault.BadRequest("Please specify datastore. Default datastore cannot be found.")
	}
	if ref.VersionNumber == "" || ref.Version == "" {
		return a.resolveVersion(ctx, dsRef, ref.Version)
	}
	ds, v, err := a.cat.FindVersionNumber(ctx, dsRef, ref.Version, ref.VersionNumber)
	var ce *catalog.Error
	switch {
	case err == nil:
	case errors.Is(err, catalog.ErrNotFound) && ds.ID == "":
		err = datastoreNotFound(dsRef)
	case errors.Is(err, catalog.ErrNotFound):
		err = versionNotFound(ref.Version)
	case errors.As(err, &ce):
		err = fault.BadRequest("%s", ce.Message)
	}
	return ds, v, err
}

// checkDatabasesUsers applies Trove's semantic checks on the initial databases and users, and the datastore's
// name, character-set and password rules (the guest would refuse the rest at prepare, after the instance is
// built), and returns them in the taskmanager's serialized form.
func checkDatabasesUsers(req *schema.CreateInstance, manager string, mgr ManagerConfig) ([]taskapi.Database, []taskapi.User, error) {
	rules, err := guestapi.RulesFor(manager)
	known := err == nil // a manager without rules leaves the names to its guest
	dbs := make([]taskapi.Database, 0, len(req.Databases))
	byName := map[string]taskapi.Database{}
	for _, d := range req.Databases {
		if known {
			if p := schemaProblem(rules, toSchema(d)); p != "" {
				return nil, nil, fault.BadRequest("%s", p)
			}
		}
		if reservedDatabase(rules, mgr, d.Name) {
			return nil, nil, fault.BadRequest("Database name '%s' is reserved.", shown(d.Name))
		}
		if _, dup := byName[d.Name]; dup {
			return nil, nil, fault.BadRequest("Two or more databases share the same name in the request.")
		}
		sd := taskapi.Database{Name: d.Name}
		if d.CharacterSet != "" {
			cs := d.CharacterSet
			sd.CharacterSet = &cs
		}
		if d.Collate != "" {
			c := d.Collate
			sd.Collate = &c
		}
		byName[d.Name] = sd
		dbs = append(dbs, sd)
	}
	users := make([]taskapi.User, 0, len(req.Users))
	seen := map[string]bool{}
	for _, u := range req.Users {
		host := u.Host
		if host == "" {
			host = "%"
		}
		if known {
			pw := u.Password
			if p := userProblem(rules, u.Name, host, &pw); p != "" {
				return nil, nil, fault.BadRequest("%s", p)
			}
		}
		if reservedUser(rules, mgr, u.Name) {
			return nil, nil, fault.BadRequest("User name '%s' is reserved.", shown(u.Name))
		}
		if seen[u.Name+"@"+host] {
			return nil, nil, fault.BadRequest("Two or more users share the same name and host in the request.")
		}
		seen[u.Name+"@"+host] = true
		pw := u.Password
		su := taskapi.User{Name: u.Name, Host: host, Password: &pw, Databases: []taskapi.Database{}}
		for _, db := range u.Databases {
			d, ok := byName[db]
			if !ok {
				return nil, nil, fault.BadRequest("The request indicates that user %s should have access to database %s, but database %s is not included in the initial databases list.", shown(u.Name), shown(db), shown(db))
			}
			su.Databases = append(su.Databases, d)
		}
		users = append(users, su)
	}
	return dbs, users, nil
}

// checkNics applies Trove's nic rules: a network or a subnet; an ip address needs a subnet.
func checkNics(in []schema.Nic) ([]taskapi.NIC, error) {
	out := make([]taskapi.NIC, 0, len(in))
	for _, n := range in {
		if n.NetworkID == "" && n.SubnetID == "" {
			return nil, fault.BadRequest("Network or subnet must be specified.")
		}
		if n.IPAddress != "" && n.SubnetID == "" {
			return nil, fault.BadRequest("Subnet ID must be specified when IP address is given.")
		}
		out = append(out, taskapi.NIC{NetworkID: n.NetworkID, SubnetID: n.SubnetID, IPAddress: n.IPAddress})
	}
	return out, nil
}

// checkNetworks asks a driver with tenant networks whether the project may use the nics' networks: another
// project's network is refused here, before anything is built (Trove: 400, the network cannot be found).
func (a *API) checkNetworks(ctx context.Context, rc *requestContext, nics []taskapi.NIC) error {
	nc, ok := a.servers.(compute.NetworkChecker)
	if !ok || len(nics) == 0 {
		return nil
	}
	in := make([]compute.NIC, len(nics))
	for i, n := range nics {
		in[i] = compute.NIC{NetworkID: n.NetworkID, SubnetID: n.SubnetID, FixedIP: n.IPAddress}
	}
	err := nc.CheckNICs(ctx, rc.Token.ProjectID, in)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, compute.ErrNotFound):
		return fault.BadRequest("%s", err.Error())
	default:
		rc.logger().WithError(err).Error("checking the instance's networks failed; is the network service reachable?")
		return fault.Unavailable("The networks of the instance cannot be checked now; try again later.")
	}
}

func (a *API) updateInstance(patch bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		rc := reqCtx(r)
		ctx := r.Context()
		row, err := a.loadInstance(ctx, rc, "instance:update", mux.Vars(r)["id"])
		if err != nil {
			return err
		}
		doc, err := a.readBody(r)
		if err != nil {
			return err
		}
		u, err := schema.ParseUpdateInstance(doc, patch)
		if err != nil {
			return err
		}
		if u.Others > 1 {
			return fault.BadRequest("Only one attribute (except 'name') is allowed to update.")
		}
		// Check the non-name change first, so a refused change leaves the name alone too.
		if u.DetachReplica {
			if err := a.checkCanAct(ctx, row); err != nil {
				return err
			}
			if row.SlaveOfID == "" {
				return fault.BadRequest("Instance %s is not a replica.", row.ID)
			}
		}
		if u.Access != nil { // checked before the name changes, like the other changes
			if _, _, err := accessJSON(u.Access); err != nil {
				return err
			}
		}
		var cfgChange *configurationChange
		if u.HasConfiguration || (u.Others == 0 && u.Name == nil) { // the empty body detaches, as in Trove
			if cfgChange, err = a.checkConfigurationChange(ctx, rc, row, u.Configuration); err != nil {
				return err
			}
		}
		var upgradeTo *catalog.DatastoreVersion
		if u.DatastoreVersion != "" {
			cur, err := a.cat.GetVersion(ctx, row.DatastoreVersionID)
			if err != nil {
				return fault.BadRequest("Instance %s has no datastore version to upgrade from.", row.ID)
			}
			_, v, err := a.resolveVersion(ctx, cur.DatastoreID, u.DatastoreVersion)
			if err != nil {
				return err
			}
			if !v.Active {
				return fault.BadRequest("Datastore version '%s' is not active.", v.Name)
			}
			upgradeTo = &v
		}
		if u.Name != nil {
			if err := a.cat.RenameInstance(ctx, row.ID, *u.Name); err != nil {
				return err
			}
		}
		if cfgChange != nil {
			if err := a.applyConfigurationChange(ctx, rc, row, cfgChange); err != nil {
				return err
			}
		}
		if u.Access != nil {
			if err := a.updateAccess(ctx, rc, row, u.Access); err != nil {
				return err
			}
		}
		if u.DetachReplica {
			if err := a.detachReplica(ctx, rc, row); err != nil {
				return err
			}
		}
		if upgradeTo != nil {
			if err := a.cat.SetTask(ctx, row.ID, status.TaskUpgrading); err != nil {
				return err
			}
			if err := a.tm.Upgrade(ctx, rc.rpcContext(), taskapi.UpgradeArgs{InstanceID: row.ID, DatastoreVersionID: upgradeTo.ID}); err != nil {
				return fmt.Errorf("casting upgrade for %s: %w", row.ID, err)
			}
		}
		return writeEmpty(w, http.StatusAccepted)
	}
}

func (a *API) deleteInstance(w http.ResponseWriter, r *http.Request) error {
	rc := reqCtx(r)
	ctx := r.Context()
	row, err := a.loadInstance(ctx, rc, "instance:delete", mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	if row.Task().Action == status.TaskBuilding.Action && !row.Task().IsError {
		return fault.Unprocessable("Instance %s is not ready. (Status is %s).", row.ID, status.StatusBuild)
	}
	if row.ClusterID != "" {
		return fault.NotImplemented("Operation not supported for instances that are part of a cluster.")
	}
	if set, err := a.cat.Replicas(ctx, row.TenantID, []string{row.ID}); err != nil {
		return err
	} else if len(set[row.ID]) > 0 {
		return fault.Forbidden("Detach replicas before deleting replica source.")
	}
	empty := ""
	task := status.TaskDeleting
	if err := a.cat.UpdateInstance(ctx, row.ID, catalog.InstanceUpdate{Task: &task, ConfigurationID: &empty}); err != nil {
		return err
	}
	if err := a.tm.DeleteInstance(ctx, rc.rpcContext(), taskapi.DeleteInstanceArgs{InstanceID: row.ID}); err != nil {
		return fmt.Errorf("casting delete_instance for %s: %w", row.ID, err)
	}
	rc.logger().WithField("instance_id", row.ID).Info("instance delete accepted")
	return writeEmpty(w, http.StatusAccepted)
}
