package api

import (
	"context"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"strconv"
	"strings"

	"github.com/gorilla/mux"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/services/api/internal/fault"
	"github.com/trove-go/trove/services/api/internal/schema"
)

// paramView is a configuration parameter as the public API shows it. max and min are shown whenever the row
// has them, 0 included (Trove: `if self.config.max_size:` on the VARCHAR text), as numbers of any size
// (18446744073709551615 is a MariaDB maximum).
type paramView struct {
	Name               string      `json:"name"`
	DatastoreVersionID string      `json:"datastore_version_id"`
	RestartRequired    bool        `json:"restart_required"`
	Type               string      `json:"type"`
	Max                json.Number `json:"max,omitempty"`
	Min                json.Number `json:"min,omitempty"`
}

// bound is a max_size/min_size text as a JSON number; "" (omitted) when unset or not a number. Trove renders
// int(text), so a fractional bound (a float parameter's) would fail there; here it is shown as it is.
func bound(s string) json.Number {
	var n json.Number
	if strings.HasPrefix(strings.TrimSpace(s), `"`) || json.Unmarshal([]byte(s), &n) != nil {
		return ""
	}
	return n
}

func renderParam(p *catalog.ConfigParam) paramView {
	return paramView{Name: p.Name, DatastoreVersionID: p.DatastoreVersionID, RestartRequired: p.RestartRequired,
		Type: p.DataType, Max: bound(p.MaxSize), Min: bound(p.MinSize)}
}

// paramsVersion resolves the version of a parameters route: {ds}/versions/{version} (name or id, inactive
// allowed) or versions/{version} (uuid).
func (a *API) paramsVersion(r *http.Request) (catalog.DatastoreVersion, error) {
	vars := mux.Vars(r)
	if ds := vars["ds"]; ds != "" {
		_, v, err := a.resolveVersion(r.Context(), ds, vars["version"])
		return v, err
	}
	if !canonicalID(vars["version"]) {
		return catalog.DatastoreVersion{}, versionNotFound(vars["version"])
	}
	v, err := a.cat.GetVersion(r.Context(), vars["version"])
	if errors.Is(err, catalog.ErrNotFound) {
		return v, versionNotFound(vars["version"])
	}
	return v, err
}

func (a *API) listParams(w http.ResponseWriter, r *http.Request) error {
	rc := reqCtx(r)
	rule := "configuration-parameter:index"
	if mux.Vars(r)["ds"] == "" {
		rule = "configuration-parameter:index_by_version"
	}
	if err := a.enforce(rc, rule, rc.Token.ProjectID); err != nil {
		return err
	}
	v, err := a.paramsVersion(r)
	if err != nil {
		return err
	}
	ps, err := a.cat.ConfigParams(r.Context(), v.ID)
	if err != nil {
		return err
	}
	out := make([]paramView, len(ps))
	for i := range ps {
		out[i] = renderParam(&ps[i])
	}
	return writeJSON(w, http.StatusOK, map[string]any{"configuration-parameters": out})
}

func (a *API) showParam(w http.ResponseWriter, r *http.Request) error {
	rc := reqCtx(r)
	rule := "configuration-parameter:show"
	if mux.Vars(r)["ds"] == "" {
		rule = "configuration-parameter:show_by_version"
	}
	if err := a.enforce(rc, rule, rc.Token.ProjectID); err != nil {
		return err
	}
	v, err := a.paramsVersion(r)
	if err != nil {
		return err
	}
	name := mux.Vars(r)["name"]
	p, err := a.cat.ConfigParam(r.Context(), v.ID, name)
	var ce *catalog.Error
	if errors.As(err, &ce) && errors.Is(err, catalog.ErrNotFound) || err == nil && p.Name != name {
		// (the catalog's comparison ignores case and trailing blanks; names are exact)
		return fault.New(http.StatusNotFound, "The parameter %s is not supported for datastore version %s.", shown(name), v.ID)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, renderParam(&p)) // unwrapped, as Trove
}

// storeValues checks values against the version's parameters (Trove's 422 rules) and returns them in their
// stored string form.
func storeValues(params []catalog.ConfigParam, values map[string]any, dsName, version string) (map[string]string, error) {
	if len(params) == 0 {
		return nil, fault.Unprocessable("Configuration groups are not supported for this datastore: %s %s", dsName, version)
	}
	byName := make(map[string]*catalog.ConfigParam, len(params))
	for i := range params {
		byName[strings.ToLower(params[i].Name)] = &params[i]
	}
	out := make(map[string]string, len(values))
	for key, v := range values {
		p, ok := byName[strings.ToLower(key)]
		if !ok {
			return nil, fault.Unprocessable("The configuration parameter %s is not supported for this datastore: %s %s.", shown(key), dsName, version)
		}
		wrongType := fault.Unprocessable("The value provided for the configuration parameter %s is not of type %s.", shown(key), p.DataType)
		switch p.DataType {
		case "boolean":
			b, ok := v.(bool)
			if !ok {
				return nil, wrongType
			}
			out[p.Name] = map[bool]string{true: "1", false: "0"}[b]
		case "integer":
			switch x := v.(type) {
			case bool: // Python: a bool is an int, and min/max are not checked for it
				out[p.Name] = map[bool]string{true: "1", false: "0"}[x]
			case json.Number:
				n, ok := new(big.Int).SetString(string(x), 10) // Python ints have no size limit
				if !ok {
					return nil, wrongType // a JSON float
				}
				if err := intRange(key, p, n); err != nil {
					return nil, err
				}
				out[p.Name] = n.String()
			default:
				return nil, wrongType
			}
		case "float":
			x, ok := v.(json.Number)
			if !ok || !strings.ContainsAny(string(x), ".eE") {
				return nil, wrongType
			}
			f, err := strconv.ParseFloat(string(x), 64)
			if err != nil && !errors.Is(err, strconv.ErrRange) {
				return nil, wrongType
			}
			if err := floatRange(key, p, f); err != nil {
				return nil, err
			}
			out[p.Name] = pyFloat(f)
		default: // string
			s, ok := v.(string)
			if !ok {
				return nil, wrongType
			}
			out[p.Name] = s
		}
		if len(out[p.Name]) > 128 {
			return nil, fault.Unprocessable("The value for the configuration parameter %s is too long.", shown(key))
		}
	}
	return out, nil
}

// typedValues converts stored strings back by data type and masks password-like options.
func typedValues(params []catalog.ConfigParam, stored map[string]string) map[string]any {
	types := make(map[string]string, len(params))
	for _, p := range params {
		types[p.Name] = p.DataType
	}
	out := make(map[string]any, len(stored))
	for k, s := range stored {
		var v any = s
		switch types[k] {
		case "boolean":
			v = s == "1" || strings.EqualFold(s, "true")
		case "integer":
			if n, err := strconv.ParseInt(s, 10, 64); err == nil {
				v = n
			}
		case "float":
			if f, err := strconv.ParseFloat(s, 64); err == nil {
				v = f
			}
		}
		if strings.Contains(strings.ToLower(k), "password") {
			v = "***"
		}
		out[k] = v
	}
	return out
}

type configurationView struct {
	ID                   string         `json:"id"`
	Name                 string         `json:"name"`
	Description          *string        `json:"description"`
	Created              string         `json:"created"`
	Updated              string         `json:"updated"`
	DatastoreVersionID   string         `json:"datastore_version_id"`
	DatastoreName        string         `json:"datastore_name"`
	DatastoreVersionName string         `json:"datastore_version_name"`
	Values               map[string]any `json:"values,omitempty"`
	InstanceCount        *int           `json:"instance_count,omitempty"`
	VersionNumber        string         `json:"datastore_version_number,omitempty"`
}

func (a *API) renderConfiguration(ctx context.Context, c *catalog.Configuration, detailed bool) (configurationView, error) {
	v := configurationView{ID: c.ID, Name: c.Name, Description: nullable(c.Description), Created: c.Created.UTC().Format(timeFormat),
		Updated: c.Updated.UTC().Format(timeFormat), DatastoreVersionID: c.DatastoreVersionID}
	snap, err := a.ds.get(ctx)
	if err != nil {
		return v, err
	}
	in := instanceInfo{row: &catalog.Instance{DatastoreVersionID: c.DatastoreVersionID}}
	a.attachVersion(ctx, snap, &in)
	if in.version != nil {
		v.DatastoreName, v.DatastoreVersionName = in.dsName, in.version.Name
	}
	if !detailed {
		return v, nil
	}
	if in.version != nil {
		v.VersionNumber = in.version.Version
	}
	params, err := a.cat.ConfigParams(ctx, c.DatastoreVersionID)
	if err != nil {
		return v, err
	}
	stored, err := a.cat.ConfigurationValues(ctx, c.ID)
	if err != nil {
		return v, err
	}
	v.Values = typedValues(params, stored)
	if v.Values == nil {
		v.Values = map[string]any{}
	}
	insts, _, err := a.cat.ConfigurationInstances(ctx, c.ID, "", 0, "")
	if err != nil {
		return v, err
	}
	n := len(insts)
	v.InstanceCount = &n
	return v, nil
}

// loadConfiguration applies the rule, loads the group and hides other projects' groups from non-admins.
func (a *API) loadConfiguration(r *http.Request, rule string) (*requestContext, *catalog.Configuration, error) {
	rc := reqCtx(r)
	if err := a.enforce(rc, rule, rc.Token.ProjectID); err != nil {
		return rc, nil, err
	}
	id := mux.Vars(r)["cid"]
	if !canonicalID(id) {
		return rc, nil, fault.NotFound(id)
	}
	c, err := a.cat.GetConfiguration(r.Context(), id)
	if errors.Is(err, catalog.ErrNotFound) || (err == nil && !rc.IsAdmin && c.TenantID != rc.Token.ProjectID) {
		return rc, nil, fault.NotFound(id)
	}
	return rc, &c, err
}

func (a *API) listConfigurations(w http.ResponseWriter, r *http.Request) error {
	rc := reqCtx(r)
	if err := a.enforce(rc, "configuration:index", rc.Token.ProjectID); err != nil {
		return err
	}
	limit, err := a.pageLimit(r)
	if err != nil {
		return err
	}
	tenant := rc.Token.ProjectID
	if rc.IsAdmin {
		tenant = ""
	}
	rows, next, err := a.cat.ListConfigurations(r.Context(), tenant, limit, r.URL.Query().Get("marker"))
	if err != nil {
		return err
	}
	out := make([]configurationView, len(rows))
	for i := range rows {
		if out[i], err = a.renderConfiguration(r.Context(), &rows[i], false); err != nil {
			return err
		}
	}
	body := map[string]any{"configurations": out}
	if next != "" {
		body["links"] = nextLink(r, next, limit)
	}
	return writeJSON(w, http.StatusOK, body)
}

func (a *API) createConfiguration(w http.ResponseWriter, r *http.Request) error {
	rc := reqCtx(r)
	ctx := r.Context()
	if err := a.enforce(rc, "configuration:create", rc.Token.ProjectID); err != nil {
		return err
	}
	doc, err := a.readBody(r)
	if err != nil {
		return err
	}
	body, err := schema.ParseConfiguration(doc, schema.ConfigCreate)
	if err != nil {
		return err
	}
	ds, v, err := a.datastoreFor(ctx, body.Datastore)
	if err != nil {
		return err
	}
	params, err := a.cat.ConfigParams(ctx, v.ID)
	if err != nil {
		return err
	}
	values, err := storeValues(params, body.Values, ds.Name, v.Name)
	if err != nil {
		return err
	}
	c := catalog.Configuration{Name: *body.Name, TenantID: rc.Token.ProjectID, DatastoreVersionID: v.ID}
	if body.Description != nil {
		c.Description = *body.Description
	}
	if err := a.notified(r.Context(), rc, "DBaaSConfigurationCreate", map[string]any{"name": c.Name, "datastore": ds.Name, "datastore_version": v.Name},
		func() (map[string]any, error) {
			var err error
			c, err = a.cat.CreateConfiguration(ctx, c, values)
			return map[string]any{"configuration_id": c.ID}, err
		}); err != nil {
		return err
	}
	view, err := a.renderConfiguration(ctx, &c, true)
	if err != nil {
		return err
	}
	rc.logger().WithField("configuration_id", c.ID).Info("configuration group created")
	return writeJSON(w, http.StatusOK, map[string]configurationView{"configuration": view})
}

func (a *API) showConfiguration(w http.ResponseWriter, r *http.Request) error {
	_, c, err := a.loadConfiguration(r, "configuration:show")
	if err != nil {
		return err
	}
	view, err := a.renderConfiguration(r.Context(), c, true)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]configurationView{"configuration": view})
}

func (a *API) configurationInstances(w http.ResponseWriter, r *http.Request) error {
	rc, c, err := a.loadConfiguration(r, "configuration:instances")
	if err != nil {
		return err
	}
	limit, err := a.pageLimit(r)
	if err != nil {
		return err
	}
	tenant := rc.Token.ProjectID
	if rc.IsAdmin {
		tenant = ""
	}
	rows, next, err := a.cat.ConfigurationInstances(r.Context(), c.ID, tenant, limit, r.URL.Query().Get("marker"))
	if err != nil {
		return err
	}
	out := make([]map[string]string, len(rows))
	for i, row := range rows {
		out[i] = map[string]string{"id": row.ID, "name": row.Name}
	}
	body := map[string]any{"instances": out}
	if next != "" {
		body["links"] = nextLink(r, next, limit)
	}
	return writeJSON(w, http.StatusOK, body)
}

// updateConfiguration is PUT (replace values; 202) and PATCH (merge values; 200 empty); the group is then
// re-applied to every instance of the caller's project using it (refreshConfiguration), as Trove does.
func (a *API) updateConfiguration(patch bool) handlerFunc {
	rule, kind := "configuration:update", schema.ConfigReplace
	if patch {
		rule, kind = "configuration:edit", schema.ConfigPatch
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		rc, c, err := a.loadConfiguration(r, rule)
		if err != nil {
			return err
		}
		ctx := r.Context()
		doc, err := a.readBody(r)
		if err != nil {
			return err
		}
		body, err := schema.ParseConfiguration(doc, kind)
		if err != nil {
			return err
		}
		var values map[string]string
		if body.Values != nil {
			params, err := a.cat.ConfigParams(ctx, c.DatastoreVersionID)
			if err != nil {
				return err
			}
			v, _ := a.cat.GetVersion(ctx, c.DatastoreVersionID)
			ds, _ := a.cat.GetDatastore(ctx, v.DatastoreID)
			if values, err = storeValues(params, body.Values, ds.Name, v.Name); err != nil {
				return err
			}
		}
		class, traits := "DBaaSConfigurationEdit", map[string]any{"configuration_id": c.ID}
		if !patch {
			name, desc := c.Name, c.Description
			if body.Name != nil {
				name = *body.Name
			}
			if body.Description != nil {
				desc = *body.Description
			}
			class, traits = "DBaaSConfigurationUpdate", map[string]any{"configuration_id": c.ID, "name": name, "description": desc}
		}
		if err := a.notified(r.Context(), rc, class, traits, func() (map[string]any, error) {
			return nil, a.cat.UpdateConfiguration(ctx, c.ID, body.Name, body.Description, values, !patch && body.Values != nil)
		}); err != nil {
			return err
		}
		rc.logger().WithField("configuration_id", c.ID).Info("configuration group updated")
		if err := a.refreshConfiguration(ctx, rc, c); err != nil {
			return err
		}
		if patch {
			return writeEmpty(w, http.StatusOK)
		}
		return writeEmpty(w, http.StatusAccepted)
	}
}

func (a *API) deleteConfiguration(w http.ResponseWriter, r *http.Request) error {
	rc, c, err := a.loadConfiguration(r, "configuration:delete")
	if err != nil {
		return err
	}
	attached, _, err := a.cat.ConfigurationInstances(r.Context(), c.ID, rc.Token.ProjectID, 1, "")
	if err != nil {
		return err
	}
	if len(attached) > 0 {
		return fault.BadRequest("A configuration group cannot be deleted if it is associated with one or more non-terminated instances. Detach the configuration group from all non-terminated instances and please try again.")
	}
	if err := a.notified(r.Context(), rc, "DBaaSConfigurationDelete", map[string]any{"configuration_id": c.ID}, func() (map[string]any, error) {
		return nil, a.cat.DeleteConfiguration(r.Context(), c.ID)
	}); err != nil {
		return err
	}
	return writeEmpty(w, http.StatusAccepted)
}
