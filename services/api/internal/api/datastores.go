package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/mux"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/compute"
	"github.com/trove-go/trove/services/api/internal/fault"
)

// datastoreCache serves datastores and versions from memory for a short TTL: they change only through
// trove-manage or the mgmt API, and the list is the API's hottest read. One refresh at a time.
type datastoreCache struct {
	cat *catalog.DB
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	fetched time.Time
	snap    *dsSnapshot
}

type dsSnapshot struct {
	datastores []catalog.Datastore
	versions   map[string][]catalog.DatastoreVersion // by datastore id, ordered by name, version
	byID       map[string]catalog.DatastoreVersion

	// listBodies memoises GET /datastores bodies for this snapshot by host, tenant and admin flag (the only
	// inputs of the view); bounded, and dropped with the snapshot.
	mu         sync.Mutex
	listBodies map[string][]byte
}

const maxListBodies = 1024

func (s *dsSnapshot) body(key string, render func() ([]byte, error)) ([]byte, error) {
	s.mu.Lock()
	b, ok := s.listBodies[key]
	s.mu.Unlock()
	if ok {
		return b, nil
	}
	b, err := render()
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.listBodies == nil || len(s.listBodies) >= maxListBodies {
		s.listBodies = map[string][]byte{}
	}
	s.listBodies[key] = b
	s.mu.Unlock()
	return b, nil
}

func newDatastoreCache(cat *catalog.DB, ttl time.Duration, now func() time.Time) *datastoreCache {
	return &datastoreCache{cat: cat, ttl: ttl, now: now}
}

func (c *datastoreCache) get(ctx context.Context) (*dsSnapshot, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.snap != nil && c.now().Sub(c.fetched) < c.ttl {
		return c.snap, nil
	}
	dss, err := c.cat.ListDatastores(ctx)
	if err != nil {
		return nil, err
	}
	vs, err := c.cat.ListAllVersions(ctx)
	if err != nil {
		return nil, err
	}
	s := &dsSnapshot{datastores: dss, versions: map[string][]catalog.DatastoreVersion{}, byID: map[string]catalog.DatastoreVersion{}}
	for _, v := range vs {
		s.versions[v.DatastoreID] = append(s.versions[v.DatastoreID], v)
		s.byID[v.ID] = v
	}
	c.snap, c.fetched = s, c.now()
	return s, nil
}

// find resolves a datastore by id, then by name.
func (s *dsSnapshot) find(idOrName string) (catalog.Datastore, bool) {
	for _, d := range s.datastores {
		if d.ID == idOrName {
			return d, true
		}
	}
	for _, d := range s.datastores {
		if d.Name == idOrName {
			return d, true
		}
	}
	return catalog.Datastore{}, false
}

type versionView struct {
	ID          string        `json:"id"`
	Name        string        `json:"name"`
	Datastore   string        `json:"datastore,omitempty"`
	Links       resourceLinks `json:"links"`
	Version     string        `json:"version"`
	Active      *bool         `json:"active,omitempty"`
	Packages    *string       `json:"packages,omitempty"`
	Image       *string       `json:"image,omitempty"`
	ImageTags   *[]string     `json:"image_tags,omitempty"`
	RegistryExt *string       `json:"registry_ext,omitempty"`
	ReplStrat   *string       `json:"repl_strategy,omitempty"`
}

// renderVersion is Trove's DatastoreVersionView; withDatastore=false for the nested list of a datastore.
func renderVersion(base baseURL, v *catalog.DatastoreVersion, admin, withDatastore bool) versionView {
	out := versionView{ID: v.ID, Name: v.Name, Links: base.links("datastores/versions", v.ID), Version: v.Version}
	if withDatastore {
		out.Datastore = v.DatastoreID
	}
	if admin {
		active, pkgs, img, reg, repl := v.Active, v.Packages, v.ImageID, v.RegistryExt, v.ReplStrategy
		out.Active, out.Packages, out.Image, out.RegistryExt, out.ReplStrat = &active, &pkgs, &img, &reg, &repl
		tags := []string{}
		for _, t := range strings.Split(v.ImageTags, ",") {
			if t = strings.TrimSpace(t); t != "" {
				tags = append(tags, t)
			}
		}
		out.ImageTags = &tags
	}
	return out
}

type datastoreView struct {
	ID             string        `json:"id"`
	Name           string        `json:"name"`
	Links          resourceLinks `json:"links"`
	Versions       []versionView `json:"versions"`
	DefaultVersion string        `json:"default_version,omitempty"`
}

// renderDatastore shows the given versions (already filtered by the caller).
func renderDatastore(base baseURL, d *catalog.Datastore, versions []catalog.DatastoreVersion, admin bool) datastoreView {
	out := datastoreView{ID: d.ID, Name: d.Name, Links: base.links("datastores", d.ID), Versions: make([]versionView, 0, len(versions)), DefaultVersion: d.DefaultVersionID}
	for i := range versions {
		out.Versions = append(out.Versions, renderVersion(base, &versions[i], admin, false))
	}
	return out
}

func activeOnly(vs []catalog.DatastoreVersion) []catalog.DatastoreVersion {
	out := make([]catalog.DatastoreVersion, 0, len(vs))
	for _, v := range vs {
		if v.Active {
			out = append(out, v)
		}
	}
	return out
}

func (a *API) listDatastores(w http.ResponseWriter, r *http.Request) error {
	rc := reqCtx(r)
	if err := a.enforce(rc, "datastore:index", rc.Token.ProjectID); err != nil {
		return err
	}
	s, err := a.ds.get(r.Context())
	if err != nil {
		return err
	}
	key := rc.base.host + "|" + rc.base.tenant + "|" + strconv.FormatBool(rc.IsAdmin)
	body, err := s.body(key, func() ([]byte, error) {
		out := make([]datastoreView, 0, len(s.datastores))
		for i := range s.datastores {
			d := &s.datastores[i]
			vs := s.versions[d.ID]
			if !rc.IsAdmin {
				if vs = activeOnly(vs); len(vs) == 0 {
					continue
				}
			}
			out = append(out, renderDatastore(rc.base, d, vs, rc.IsAdmin))
		}
		return json.Marshal(map[string]any{"datastores": out})
	})
	if err != nil {
		return err
	}
	return writeRaw(w, http.StatusOK, body)
}

// datastoreNotFound is Trove's DatastoreNotFound (404).
func datastoreNotFound(idOrName string) *fault.Error {
	return fault.New(http.StatusNotFound, "Datastore '%s' cannot be found.", shown(idOrName))
}

// versionNotFound is Trove's DatastoreVersionNotFound, which maps to 400.
func versionNotFound(idOrName string) *fault.Error {
	return fault.BadRequest("Datastore version '%s' cannot be found.", shown(idOrName))
}

// datastoreFromPath checks the rule and resolves {ds} from the cached snapshot.
func (a *API) datastoreFromPath(r *http.Request, rule string) (*requestContext, *dsSnapshot, catalog.Datastore, error) {
	rc := reqCtx(r)
	if err := a.enforce(rc, rule, rc.Token.ProjectID); err != nil {
		return rc, nil, catalog.Datastore{}, err
	}
	s, err := a.ds.get(r.Context())
	if err != nil {
		return rc, nil, catalog.Datastore{}, err
	}
	name := mux.Vars(r)["ds"]
	d, ok := s.find(name)
	if !ok {
		return rc, nil, d, datastoreNotFound(name)
	}
	return rc, s, d, nil
}

func (a *API) showDatastore(w http.ResponseWriter, r *http.Request) error {
	rc, s, d, err := a.datastoreFromPath(r, "datastore:show")
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"datastore": renderDatastore(rc.base, &d, activeOnly(s.versions[d.ID]), rc.IsAdmin)})
}

func (a *API) listVersions(w http.ResponseWriter, r *http.Request) error {
	rc, s, d, err := a.datastoreFromPath(r, "datastore:version_index")
	if err != nil {
		return err
	}
	vs := activeOnly(s.versions[d.ID])
	out := make([]versionView, 0, len(vs))
	for i := range vs {
		out = append(out, renderVersion(rc.base, &vs[i], rc.IsAdmin, true))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"versions": out})
}

// resolveVersion maps catalog lookups to Trove's faults: unknown datastore 404, unknown version 400, ambiguous
// name 400 (DatastoreVersionsNoUniqueMatch).
func (a *API) resolveVersion(ctx context.Context, ds, version string) (catalog.Datastore, catalog.DatastoreVersion, error) {
	d, v, err := a.cat.FindVersion(ctx, ds, version)
	if err == nil {
		// The catalog compares case-insensitively and ignores trailing blanks; ids and names are exact here.
		if d.ID != ds && d.Name != ds {
			return d, v, datastoreNotFound(ds)
		}
		if version != "" && v.ID != version && v.Name != version {
			return d, v, versionNotFound(version)
		}
		return d, v, nil
	}
	var ce *catalog.Error
	switch {
	case errors.Is(err, catalog.ErrNotFound) && d.ID == "":
		return d, v, datastoreNotFound(ds)
	case errors.Is(err, catalog.ErrNotFound) && version == "" && errors.As(err, &ce):
		return d, v, fault.BadRequest("%s", ce.Message) // no default version
	case errors.Is(err, catalog.ErrNotFound):
		return d, v, versionNotFound(version)
	case errors.As(err, &ce):
		return d, v, fault.BadRequest("%s", ce.Message)
	}
	return d, v, err
}

func (a *API) showVersion(w http.ResponseWriter, r *http.Request) error {
	rc := reqCtx(r)
	if err := a.enforce(rc, "datastore:version_show", rc.Token.ProjectID); err != nil {
		return err
	}
	vars := mux.Vars(r)
	_, v, err := a.resolveVersion(r.Context(), vars["ds"], vars["version"])
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"version": renderVersion(rc.base, &v, rc.IsAdmin, true)})
}

func (a *API) showVersionByUUID(w http.ResponseWriter, r *http.Request) error {
	rc := reqCtx(r)
	if err := a.enforce(rc, "datastore:version_show_by_uuid", rc.Token.ProjectID); err != nil {
		return err
	}
	id := mux.Vars(r)["version"]
	if !canonicalID(id) {
		return versionNotFound(id)
	}
	v, err := a.cat.GetVersion(r.Context(), id)
	if errors.Is(err, catalog.ErrNotFound) {
		return versionNotFound(id)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"version": renderVersion(rc.base, &v, rc.IsAdmin, true)})
}

func (a *API) versionFlavors(w http.ResponseWriter, r *http.Request) error {
	rc := reqCtx(r)
	if err := a.enforce(rc, "datastore:list_associated_flavors", rc.Token.ProjectID); err != nil {
		return err
	}
	vars := mux.Vars(r)
	_, v, err := a.resolveVersion(r.Context(), vars["ds"], vars["version"])
	if err != nil {
		return err
	}
	allowed, err := a.cat.VersionFlavors(r.Context(), v.ID)
	if err != nil {
		return err
	}
	flavors, err := a.flavors.ListFlavors(r.Context())
	if err != nil {
		return err
	}
	out := make([]flavorView, 0, len(flavors))
	for i := range flavors {
		if len(allowed) == 0 || slices.Contains(allowed, flavors[i].ID) {
			out = append(out, renderFlavor(rc.base, &flavors[i]))
		}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"flavors": out})
}

type volumeTypeView struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	IsPublic    bool   `json:"is_public"`
	Description string `json:"description"`
}

// versionVolumeTypes lists the volume types of the cloud a version may use: all of them unless the version has
// volume_type metadata rows, which restrict them by name or id (Trove; the route has no policy check). A driver
// without volume types answers 501.
func (a *API) versionVolumeTypes(w http.ResponseWriter, r *http.Request) error {
	lister, ok := a.servers.(compute.VolumeTypeLister)
	if !ok {
		return fault.NotImplemented("The compute driver has no volume types.")
	}
	vars := mux.Vars(r)
	_, v, err := a.resolveVersion(r.Context(), vars["ds"], vars["version"])
	if err != nil {
		return err
	}
	allowed, err := a.cat.VersionVolumeTypes(r.Context(), v.ID)
	if err != nil {
		return err
	}
	types, err := lister.ListVolumeTypes(r.Context())
	if err != nil {
		reqCtx(r).logger().WithError(err).Error("listing volume types failed; is the block storage service reachable?")
		return fault.Unavailable("The volume types cannot be listed now; try again later.")
	}
	out := make([]volumeTypeView, 0, len(types))
	for _, t := range types {
		if len(allowed) == 0 || slices.Contains(allowed, t.Name) || slices.Contains(allowed, t.ID) {
			out = append(out, volumeTypeView{ID: t.ID, Name: t.Name, IsPublic: t.IsPublic, Description: t.Description})
		}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"volume_types": out})
}
