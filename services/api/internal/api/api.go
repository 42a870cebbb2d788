// Package api is trove-api's HTTP layer: the route table, the identity/request-id middleware, one handler per
// route (validate token and policy → load/act → render) and one render function per resource. Trove's JSON
// shapes are fixed upstream (api.md); catalog row types never reach the wire.
package api

import (
	"context"
	"net/http"
	"time"

	"github.com/gorilla/mux"
	"github.com/sirupsen/logrus"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/keystone"
	"github.com/trove-go/trove/pkg/metrics"
	"github.com/trove-go/trove/pkg/notification"
	"github.com/trove-go/trove/pkg/policy"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/taskapi"
	"github.com/trove-go/trove/services/api/internal/fault"
)

// TaskManager is what the API asks of trove-taskmanager (casts). Production wires *taskapi.Client.
type TaskManager interface {
	CreateInstance(ctx context.Context, rc rpc.Context, a taskapi.CreateInstanceArgs) error
	DeleteInstance(ctx context.Context, rc rpc.Context, a taskapi.DeleteInstanceArgs) error
	Restart(ctx context.Context, rc rpc.Context, a taskapi.RestartArgs) error
	ResizeVolume(ctx context.Context, rc rpc.Context, a taskapi.ResizeVolumeArgs) error
	Upgrade(ctx context.Context, rc rpc.Context, a taskapi.UpgradeArgs) error
	UpdateOverrides(ctx context.Context, rc rpc.Context, a taskapi.UpdateOverridesArgs) error
	CreateBackup(ctx context.Context, rc rpc.Context, a taskapi.CreateBackupArgs) error
	DeleteBackup(ctx context.Context, rc rpc.Context, a taskapi.DeleteBackupArgs) error
	PromoteToReplicaSource(ctx context.Context, rc rpc.Context, a taskapi.ReplicationArgs) error
	EjectReplicaSource(ctx context.Context, rc rpc.Context, a taskapi.ReplicationArgs) error
	DetachReplica(ctx context.Context, rc rpc.Context, a taskapi.ReplicationArgs) error
}

// Deps are the API's collaborators.
type Deps struct {
	Config    Config
	Catalog   *catalog.DB
	Validator keystone.Validator
	// Projects checks the target project of a quota update; nil uses Validator when it is a keystone.Projects
	// (the Keystone client is).
	Projects keystone.Projects
	// WWWAuthenticate is the header value of 401 responses (keystone.Client.WWWAuthenticate()).
	WWWAuthenticate string
	Policy          *policy.Enforcer
	TaskManager     TaskManager
	// Guests reaches instances' guest agents (databases, users, root); nil answers those routes with 501.
	Guests  Guests
	Flavors Flavors
	// Servers, when set, supplies the addresses shown by GET /instances/{id} (the compute driver).
	Servers Servers
	Log     *logrus.Entry
	// Now is the clock (UTC); nil means time.Now.
	Now func() time.Time
	// Metrics counts requests per route template and status; nil counts nothing.
	Metrics *metrics.HTTP
	// Notify emits the dbaas.*.start of database and user operations (the guest ends them); nil emits nothing.
	Notify *notification.Notifier
}

// API serves Trove's REST API v1.0.
type API struct {
	cfg       Config
	cat       *catalog.DB
	validator keystone.Validator
	projects  keystone.Projects // nil: quota targets are not checked against Keystone
	wwwAuth   string
	policy    *policy.Enforcer
	tm        TaskManager
	notify    *notification.Notifier
	guests    Guests
	servers   Servers
	flavors   Flavors
	log       *logrus.Entry
	now       func() time.Time
	limiter   *rateLimiter
	ds        *datastoreCache
	listCache *listCache // nil = off
	metrics   *metrics.HTTP
}

// New builds the API.
func New(d Deps) *API {
	a := &API{cfg: d.Config, cat: d.Catalog, validator: d.Validator, wwwAuth: d.WWWAuthenticate, policy: d.Policy,
		tm: d.TaskManager, guests: d.Guests, servers: d.Servers, flavors: d.Flavors, log: d.Log, now: d.Now, metrics: d.Metrics,
		notify: d.Notify}
	if a.now == nil {
		a.now = time.Now
	}
	if a.projects = d.Projects; a.projects == nil {
		a.projects, _ = d.Validator.(keystone.Projects)
	}
	if a.log == nil {
		a.log = logrus.NewEntry(logrus.StandardLogger())
	}
	if a.flavors == nil {
		a.flavors = StaticFlavors(d.Config.Flavors)
	}
	if d.Config.RateLimits != nil {
		a.limiter = newRateLimiter(d.Config.RateLimits, a.now)
	}
	a.ds = newDatastoreCache(d.Catalog, d.Config.DatastoreCacheTTL, a.now)
	a.listCache = newListCache(d.Config.InstanceListCacheTTL, a.now)
	return a
}

type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// notImplemented is the handler of every route Trove has that is not built yet: Trove's 501 fault with webob's
// default explanation, after identity and the tenant-path check like any routed request. Building one of them
// means replacing its notImplemented entry in the route table and deleting its line under "Routes answering
// 501" in docs/api.md (TestEveryTroveRouteIsRouted holds the two to the same list).
func notImplemented(http.ResponseWriter, *http.Request) error {
	return fault.NotImplemented("The server has either erred or is incapable of performing the requested operation.")
}

// mgmtNotImplemented is notImplemented behind the mgmt routes' hard-coded admin check (a non-admin learns 401,
// as from every mgmt route).
func mgmtNotImplemented(w http.ResponseWriter, r *http.Request) error {
	if err := requireAdmin(reqCtx(r)); err != nil {
		return err
	}
	return notImplemented(w, r)
}

// Handler returns the whole application: versions, healthcheck and the authenticated /v1.0 tree.
func (a *API) Handler() http.Handler {
	root := mux.NewRouter()
	root.NotFoundHandler = a.wrap(func(http.ResponseWriter, *http.Request) error { return errNoRoute })
	root.MethodNotAllowedHandler = root.NotFoundHandler
	root.Handle("/", a.wrap(a.versions)).Methods(http.MethodGet)
	root.Handle("/healthcheck", a.wrap(a.healthcheck)).Methods(http.MethodGet, http.MethodHead)

	v1 := root.PathPrefix("/v1.0/{tenant}/").Subrouter()
	// Unmatched routes under a tenant still pass identity first (mux applies Use only to matched routes); a route
	// without the requested method is a 404 in Trove, not a 405.
	v1.NotFoundHandler = a.authenticate(root.NotFoundHandler)
	v1.MethodNotAllowedHandler = v1.NotFoundHandler
	v1.Use(a.authenticate)
	routes := []struct {
		method, path string
		h            handlerFunc
	}{
		{"GET", "instances", a.listInstances(false)},
		{"GET", "instances/detail", a.listInstances(true)},
		{"POST", "instances", a.createInstance},
		{"GET", "instances/{id}", a.showInstance},
		{"PUT", "instances/{id}", a.updateInstance(false)},
		{"PATCH", "instances/{id}", a.updateInstance(true)},
		{"DELETE", "instances/{id}", a.deleteInstance},
		{"POST", "instances/{id}/action", a.instanceAction},
		{"GET", "instances/{id}/databases", a.listDatabases},
		{"POST", "instances/{id}/databases", a.createDatabases},
		{"GET", "instances/{id}/databases/{name}", notImplemented},
		{"DELETE", "instances/{id}/databases/{name}", a.deleteDatabase},
		{"GET", "instances/{id}/users", a.listUsers},
		{"POST", "instances/{id}/users", a.createUsers},
		{"PUT", "instances/{id}/users", a.changePasswords},
		{"GET", "instances/{id}/users/{user}", a.showUser},
		{"PUT", "instances/{id}/users/{user}", a.updateUser},
		{"DELETE", "instances/{id}/users/{user}", a.deleteUser},
		{"GET", "instances/{id}/users/{user}/databases", a.listAccess},
		{"PUT", "instances/{id}/users/{user}/databases", a.grantAccess},
		{"DELETE", "instances/{id}/users/{user}/databases/{db}", a.revokeAccess},
		{"GET", "instances/{id}/backups", a.listBackups},
		{"GET", "instances/{id}/backup_schedules", a.listBackupSchedules},
		{"GET", "instances/{id}/recovery_window", a.recoveryWindow},
		{"POST", "instances/{id}/backup_schedules", a.createBackupSchedule},
		{"DELETE", "instances/{id}/backup_schedules/{sid}", a.deleteBackupSchedule},
		{"GET", "instances/{id}/restore_drills", a.listRestoreDrills},
		{"POST", "instances/{id}/restore_drills", a.createRestoreDrill},
		{"DELETE", "instances/{id}/restore_drills/{did}", a.deleteRestoreDrill},
		{"GET", "instances/{id}/root", a.rootShow},
		{"POST", "instances/{id}/root", a.rootEnable},
		{"DELETE", "instances/{id}/root", a.rootDisable},
		{"GET", "instances/{id}/log", a.guestLogList},
		{"POST", "instances/{id}/log", a.guestLogAction},

		{"GET", "datastores", a.listDatastores},
		{"GET", "datastores/versions/{version}", a.showVersionByUUID},
		{"GET", "datastores/versions/{version}/parameters", a.listParams},
		{"GET", "datastores/versions/{version}/parameters/{name}", a.showParam},
		{"GET", "datastores/{ds}", a.showDatastore},
		{"GET", "datastores/{ds}/versions", a.listVersions},
		{"GET", "datastores/{ds}/versions/{version}", a.showVersion},
		{"GET", "datastores/{ds}/versions/{version}/flavors", a.versionFlavors},
		{"GET", "datastores/{ds}/versions/{version}/parameters", a.listParams},
		{"GET", "datastores/{ds}/versions/{version}/parameters/{name}", a.showParam},

		{"GET", "configurations", a.listConfigurations},
		{"POST", "configurations", a.createConfiguration},
		{"GET", "configurations/{cid}", a.showConfiguration},
		{"PUT", "configurations/{cid}", a.updateConfiguration(false)},
		{"PATCH", "configurations/{cid}", a.updateConfiguration(true)},
		{"DELETE", "configurations/{cid}", a.deleteConfiguration},
		{"GET", "configurations/{cid}/instances", a.configurationInstances},

		{"GET", "backups", a.listBackups},
		{"GET", "backups/{id}", a.showBackup},

		{"GET", "flavors", a.listFlavors},
		{"GET", "flavors/{id}", a.showFlavor},
		{"GET", "limits", a.limits},

		{"GET", "mgmt/instances", a.mgmtListInstances},
		{"GET", "mgmt/instances/{id}", a.mgmtShowInstance},
		{"GET", "mgmt/quotas/{project}", a.showQuotas},
		{"PUT", "mgmt/quotas/{project}", a.updateQuotas},
		{"POST", "mgmt/instances/{id}/action", a.mgmtInstanceAction}, {"POST", "mgmt/instances/action", a.mgmtInstancesAction},

		// Routes of Trove's API (api.md §3) that are not built yet: 501. Keep in step with "Routes answering 501"
		// in docs/api.md.
		{"GET", "instances/{id}/configuration", a.instanceConfiguration},
		{"GET", "instances/{id}/ssl", notImplemented},
		{"POST", "instances/{id}/ssl", notImplemented},
		{"GET", "instances/{id}/modules", notImplemented},
		{"POST", "instances/{id}/modules", notImplemented},
		{"DELETE", "instances/{id}/modules/{module_id}", notImplemented},
		{"DELETE", "datastores/{ds}", notImplemented},
		{"GET", "datastores/{ds}/versions/{version}/volume-types", a.versionVolumeTypes},
		{"POST", "backups", a.createBackup},
		{"DELETE", "backups/{id}", a.deleteBackup},
		{"GET", "backup_strategies", a.listBackupStrategies},
		{"POST", "backup_strategies", a.createBackupStrategy},
		{"DELETE", "backup_strategies", a.deleteBackupStrategy},
		{"GET", "modules", notImplemented},
		{"POST", "modules", notImplemented},
		{"GET", "modules/{id}", notImplemented},
		{"PUT", "modules/{id}", notImplemented},
		{"DELETE", "modules/{id}", notImplemented},
		{"GET", "modules/{id}/instances", notImplemented},
		{"PUT", "modules/{id}/instances", notImplemented},
		{"GET", "clusters", notImplemented},
		{"POST", "clusters", notImplemented},
		{"GET", "clusters/{id}", notImplemented},
		{"POST", "clusters/{id}", notImplemented},
		{"DELETE", "clusters/{id}", notImplemented},
		{"GET", "clusters/{id}/instances/{iid}", notImplemented},
		{"GET", "clusters/{id}/root", notImplemented},
		{"POST", "clusters/{id}/root", notImplemented},
		{"GET", "mgmt/instances/{id}/root", mgmtNotImplemented},
		{"GET", "mgmt/instances/{id}/diagnostics", mgmtNotImplemented},
		{"GET", "mgmt/instances/{id}/hwinfo", mgmtNotImplemented},
		{"GET", "mgmt/instances/{id}/rpc_ping", mgmtNotImplemented},
		{"POST", "mgmt/instances/{id}/upgrade", mgmtNotImplemented},
		{"GET", "mgmt/clusters", mgmtNotImplemented},
		{"GET", "mgmt/clusters/{id}", mgmtNotImplemented},
		{"POST", "mgmt/clusters/{id}/action", mgmtNotImplemented},
		{"GET", "mgmt/datastore-versions", mgmtNotImplemented},
		{"POST", "mgmt/datastore-versions", mgmtNotImplemented},
		{"GET", "mgmt/datastore-versions/{id}", mgmtNotImplemented},
		{"PATCH", "mgmt/datastore-versions/{id}", mgmtNotImplemented},
		{"DELETE", "mgmt/datastore-versions/{id}", mgmtNotImplemented},
		{"GET", "mgmt/datastores/versions/{version}/parameters", mgmtNotImplemented},
		{"POST", "mgmt/datastores/versions/{version}/parameters", mgmtNotImplemented},
		{"GET", "mgmt/datastores/versions/{version}/parameters/{name}", mgmtNotImplemented},
		{"PUT", "mgmt/datastores/versions/{version}/parameters/{name}", mgmtNotImplemented},
		{"DELETE", "mgmt/datastores/versions/{version}/parameters/{name}", mgmtNotImplemented},
	}
	for _, rt := range routes {
		v1.Handle("/"+rt.path, a.wrap(rt.h)).Methods(rt.method)
	}
	// Any other mgmt path is admin-only in Trove too: a non-admin learns 401, an admin that it is not here.
	v1.PathPrefix("/mgmt/").Handler(a.wrap(func(_ http.ResponseWriter, r *http.Request) error {
		if err := requireAdmin(reqCtx(r)); err != nil {
			return err
		}
		return errNoRoute
	}))
	// Everything else under /v1.0 (including "/v1.0/{tenant}" alone) still goes through identity first, as in
	// Trove, so an unauthenticated caller learns nothing about the route table.
	root.PathPrefix("/v1.0").Handler(a.authenticate(root.NotFoundHandler))
	return a.invalidateOnWrite(a.withRequestID(a.negotiate(root)))
}
