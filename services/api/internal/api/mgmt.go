package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/gorilla/mux"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/status"
	"github.com/trove-go/trove/services/api/internal/fault"
)

// mgmtServer is the mgmt view's "server" object (from the row: the API does not ask the compute service).
type mgmtServer struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Status   string `json:"status"`
	TenantID string `json:"tenant_id"`
}

// mgmtInstanceView is the detail view plus the mgmt keys (api.md §14).
type mgmtInstanceView struct {
	instanceView
	Server          *mgmtServer `json:"server"`
	ServiceStatus   string      `json:"service_status"`
	MgmtTenantID    string      `json:"tenant_id"`
	Deleted         bool        `json:"deleted"`
	DeletedAt       *string     `json:"deleted_at"`
	TaskDescription string      `json:"task_description"`
}

// MarshalJSON flattens the embedded view (its tenant_id is the same value).
func (v mgmtInstanceView) MarshalJSON() ([]byte, error) {
	base, err := json.Marshal(v.instanceView)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(base, &m); err != nil {
		return nil, err
	}
	extra := map[string]any{"server": v.Server, "service_status": v.ServiceStatus, "tenant_id": v.MgmtTenantID,
		"deleted": v.Deleted, "deleted_at": v.DeletedAt, "task_description": v.TaskDescription}
	for k, x := range extra {
		b, err := json.Marshal(x)
		if err != nil {
			return nil, err
		}
		m[k] = b
	}
	return json.Marshal(m)
}

func (a *API) renderMgmtInstance(rc *requestContext, in *instanceInfo) mgmtInstanceView {
	row := in.row
	v := mgmtInstanceView{instanceView: a.renderInstance(rc.base, in, true, true, a.now()), MgmtTenantID: row.TenantID,
		Deleted: row.Deleted, TaskDescription: row.TaskDescription}
	if row.DeletedAt != nil {
		s := row.DeletedAt.UTC().Format(timeFormat)
		v.DeletedAt = &s
	}
	if row.ComputeInstanceID != "" {
		v.Server = &mgmtServer{ID: row.ComputeInstanceID, Name: row.Name, Status: serverStatus(row), TenantID: row.TenantID}
	}
	svc := status.Unknown
	if in.svc != nil {
		svc = in.svc.Status()
	}
	v.ServiceStatus = svc.API
	return v
}

// mgmtListInstances is GET /mgmt/instances (admin): every project, newest first, integer offset marker.
func (a *API) mgmtListInstances(w http.ResponseWriter, r *http.Request) error {
	rc := reqCtx(r)
	if err := requireAdmin(rc); err != nil {
		return err
	}
	q := r.URL.Query()
	f := catalog.AllTenantsFilter{IncludeClustered: strings.EqualFold(q.Get("include_clustered"), "true"),
		ProjectID: q.Get("project_id"), Limit: a.cfg.InstancesPageSize}
	switch strings.ToLower(q.Get("deleted")) {
	case "true":
		t := true
		f.Deleted = &t
	case "false":
		f.Deleted = new(bool)
	}
	limit, offset, err := offsetPage(q)
	if err != nil {
		return err
	}
	if limit > 0 {
		f.Limit = limit
	}
	f.Offset = offset
	rows, next, err := a.cat.ListInstancesAllTenants(r.Context(), f)
	if err != nil {
		return err
	}
	infos, err := a.infos(r.Context(), rows)
	if err != nil {
		return err
	}
	addrs := a.listAddresses(r.Context(), rc, infos)
	out := make([]mgmtInstanceView, len(infos))
	for i := range infos {
		out[i] = a.renderMgmtInstance(rc, &infos[i])
		if showsAddresses(infos[i].row) {
			setAddresses(&out[i].instanceView, addrs[infos[i].row.ComputeInstanceID])
		}
	}
	body := map[string]any{"instances": out}
	if next != "" {
		body["links"] = nextLink(r, next, f.Limit)
	}
	return writeJSON(w, http.StatusOK, body)
}

// mgmtShowInstance is GET /mgmt/instances/{id}[?deleted=true] (admin).
func (a *API) mgmtShowInstance(w http.ResponseWriter, r *http.Request) error {
	rc := reqCtx(r)
	if err := requireAdmin(rc); err != nil {
		return err
	}
	id := mux.Vars(r)["id"]
	if !canonicalID(id) {
		return fault.NotFound(id)
	}
	get := a.cat.GetInstance
	if strings.EqualFold(r.URL.Query().Get("deleted"), "true") {
		get = a.cat.GetInstanceAny
	}
	row, err := get(r.Context(), id)
	if errors.Is(err, catalog.ErrNotFound) {
		return fault.NotFound(id)
	}
	if err != nil {
		return err
	}
	infos, err := a.infos(r.Context(), []catalog.Instance{row})
	if err != nil {
		return err
	}
	v := a.renderMgmtInstance(rc, &infos[0])
	a.addAddresses(r.Context(), rc, &row, &v.instanceView)
	return writeJSON(w, http.StatusOK, map[string]any{"instance": v})
}
