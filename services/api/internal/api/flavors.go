package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/gorilla/mux"
	"github.com/trove-go/trove/pkg/compute"
	"github.com/trove-go/trove/services/api/internal/fault"
)

// Flavor is a compute flavor as the API needs it.
type Flavor struct {
	ID        string
	Name      string
	RAM       int // MB
	VCPUs     int
	Disk      int // GB
	Ephemeral int // GB
}

// Flavors lists the compute flavors. The local driver uses the config-defined list (StaticFlavors); the
// openstack driver's are Nova's (DriverFlavors).
type Flavors interface {
	ListFlavors(ctx context.Context) ([]Flavor, error)
	// GetFlavor returns (nil, nil) for an unknown id.
	GetFlavor(ctx context.Context, id string) (*Flavor, error)
}

// StaticFlavors is a fixed flavor list ([local_flavors]).
type StaticFlavors []Flavor

// ListFlavors implements Flavors.
func (s StaticFlavors) ListFlavors(context.Context) ([]Flavor, error) { return s, nil }

// GetFlavor implements Flavors.
func (s StaticFlavors) GetFlavor(_ context.Context, id string) (*Flavor, error) {
	for i := range s {
		if s[i].ID == id {
			f := s[i]
			return &f, nil
		}
	}
	return nil, nil
}

type flavorView struct {
	ID        *int64        `json:"id"`
	StrID     string        `json:"str_id"`
	Links     resourceLinks `json:"links"`
	Name      string        `json:"name"`
	RAM       int           `json:"ram"`
	VCPUs     int           `json:"vcpus"`
	Disk      int           `json:"disk"`
	Ephemeral int           `json:"ephemeral"`
}

// renderFlavor: "id" is an int only for all-digit ids without a leading zero, else null (troveclient then uses
// str_id); both keys are always present.
func renderFlavor(base baseURL, f *Flavor) flavorView {
	v := flavorView{StrID: f.ID, Links: base.links("flavors", f.ID), Name: f.Name, RAM: f.RAM, VCPUs: f.VCPUs, Disk: f.Disk, Ephemeral: f.Ephemeral}
	if f.ID != "" && (f.ID == "0" || f.ID[0] != '0') {
		if n, err := strconv.ParseInt(f.ID, 10, 64); err == nil && n >= 0 {
			v.ID = &n
		}
	}
	return v
}

func (a *API) listFlavors(w http.ResponseWriter, r *http.Request) error {
	rc := reqCtx(r)
	if err := a.enforce(rc, "flavor:index", rc.Token.ProjectID); err != nil {
		return err
	}
	flavors, err := a.flavors.ListFlavors(r.Context())
	if err != nil {
		return err
	}
	out := make([]flavorView, 0, len(flavors))
	for i := range flavors {
		out = append(out, renderFlavor(rc.base, &flavors[i]))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"flavors": out})
}

func (a *API) showFlavor(w http.ResponseWriter, r *http.Request) error {
	rc := reqCtx(r)
	if err := a.enforce(rc, "flavor:show", rc.Token.ProjectID); err != nil {
		return err
	}
	id := mux.Vars(r)["id"]
	f, err := a.flavors.GetFlavor(r.Context(), id)
	if err != nil {
		return err
	}
	if f == nil {
		return fault.NotFound(id)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"flavor": renderFlavor(rc.base, f)})
}

// DriverFlavors are the compute driver's flavors (the openstack driver: Nova's, as the service user sees them).
type DriverFlavors struct {
	Driver interface {
		ListFlavors(ctx context.Context) ([]compute.Flavor, error)
		GetFlavor(ctx context.Context, id string) (compute.Flavor, error)
	}
}

func fromCompute(f compute.Flavor) Flavor {
	return Flavor{ID: f.ID, Name: f.Name, RAM: f.RAM, VCPUs: f.VCPUs, Disk: f.Disk}
}

// ListFlavors implements Flavors.
func (d DriverFlavors) ListFlavors(ctx context.Context) ([]Flavor, error) {
	list, err := d.Driver.ListFlavors(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Flavor, len(list))
	for i, f := range list {
		out[i] = fromCompute(f)
	}
	return out, nil
}

// GetFlavor implements Flavors.
func (d DriverFlavors) GetFlavor(ctx context.Context, id string) (*Flavor, error) {
	f, err := d.Driver.GetFlavor(ctx, id)
	if errors.Is(err, compute.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := fromCompute(f)
	return &out, nil
}
