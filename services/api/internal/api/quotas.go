package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gorilla/mux"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/keystone"
	"github.com/trove-go/trove/services/api/internal/fault"
	"github.com/trove-go/trove/services/api/internal/schema"
)

type quotaView struct {
	Resource string `json:"resource"`
	InUse    int    `json:"in_use"`
	Reserved int    `json:"reserved"`
	Limit    int    `json:"limit"`
}

func renderQuotas(qs []catalog.Quota) []quotaView {
	out := make([]quotaView, 0, len(qs))
	for _, q := range qs {
		out = append(out, quotaView{Resource: q.Resource, InUse: q.InUse, Reserved: q.Reserved, Limit: q.Limit})
	}
	return out
}

// showQuotas is GET /mgmt/quotas/{project}: admins read any project, others only their own (Trove's
// TroveOperationAuthError, 403).
func (a *API) showQuotas(w http.ResponseWriter, r *http.Request) error {
	rc := reqCtx(r)
	project := mux.Vars(r)["project"]
	if project != rc.Token.ProjectID && !rc.IsAdmin {
		return fault.Forbidden("Operation not allowed for tenant %s.", rc.Token.ProjectID)
	}
	qs, err := a.cat.GetQuotas(r.Context(), project, a.cfg.Quotas)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"quotas": renderQuotas(qs)})
}

// updateQuotas is PUT /mgmt/quotas/{project} (admin only): answers with the limits that were set.
func (a *API) updateQuotas(w http.ResponseWriter, r *http.Request) error {
	rc := reqCtx(r)
	if err := requireAdmin(rc); err != nil {
		return err
	}
	doc, err := a.readBody(r)
	if err != nil {
		return err
	}
	q, err := schema.ParseQuotaUpdate(doc)
	if err != nil {
		return err
	}
	for _, res := range q.Order { // all or nothing: check every name before writing
		if !slices.Contains(catalog.Resources, res) {
			return fault.New(http.StatusNotFound, "Unknown quota resources ['%s'].", res)
		}
		if q.Limits[res] > 1<<31-1 {
			return fault.BadRequest("Quota limit '%d' for %s is not valid.", q.Limits[res], res)
		}
	}
	project := mux.Vars(r)["project"]
	if err := a.checkProject(r.Context(), project); err != nil {
		return err
	}
	out := map[string]int64{}
	for _, res := range q.Order {
		if err := a.cat.SetQuota(r.Context(), project, res, int(q.Limits[res])); err != nil {
			return err
		}
		out[res] = q.Limits[res]
	}
	rc.logger().WithField("target_project", project).WithField("quotas", out).Info("quotas updated")
	return writeJSON(w, http.StatusOK, map[string]any{"quotas": out})
}

// maxProjectID is the width of the catalog's tenant_id columns (quotas, quota_usages, reservations).
const maxProjectID = 36

// checkProject refuses a quota target that cannot be a project (longer than the catalog column: it was a 500)
// or that Keystone does not know, exactly (Trove creates quota rows for any string; we answer 404).
func (a *API) checkProject(ctx context.Context, project string) error {
	notFound := fault.New(http.StatusNotFound, "Project %s cannot be found.", shown(project))
	if project == "" || utf8.RuneCountInString(project) > maxProjectID || strings.TrimSpace(project) != project {
		return notFound
	}
	if a.projects == nil {
		return nil
	}
	ok, err := a.projects.ProjectExists(ctx, project)
	switch {
	case errors.Is(err, keystone.ErrUnavailable):
		return fault.Unavailable("The identity service is unavailable.")
	case err != nil:
		return err
	case !ok:
		return notFound
	}
	return nil
}

// limits is GET /limits: the caller's absolute limits, then one entry per configured rate limit.
func (a *API) limits(w http.ResponseWriter, r *http.Request) error {
	rc := reqCtx(r)
	if err := a.enforce(rc, "limits:index", rc.Token.ProjectID); err != nil {
		return err
	}
	qs, err := a.cat.GetQuotas(r.Context(), rc.Token.ProjectID, a.cfg.Quotas)
	if err != nil {
		return err
	}
	abs := map[string]any{"verb": "ABSOLUTE"}
	for _, q := range qs {
		abs["max_"+q.Resource] = q.Limit
	}
	out := []any{abs}
	if a.limiter != nil {
		for _, verb := range []string{"POST", "PUT", "DELETE", "GET"} {
			if _, ok := a.cfg.RateLimits[verb]; !ok {
				continue
			}
			limit, remaining, next := a.limiter.remaining(rc.Token.ProjectID, verb)
			out = append(out, map[string]any{"verb": verb, "uri": "*", "regex": ".*", "value": limit,
				"remaining": remaining, "unit": "MINUTE", "nextAvailable": next.UTC().Format(time.RFC3339)})
		}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"limits": out})
}
