package api

import (
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
)

type versionDoc struct {
	ID      string `json:"id"`
	Status  string `json:"status"`
	Updated string `json:"updated"`
	Links   []link `json:"links"`
}

// versions is GET / (no authentication).
func (a *API) versions(w http.ResponseWriter, r *http.Request) error {
	rc := reqCtx(r)
	return writeJSON(w, http.StatusOK, map[string][]versionDoc{"versions": {{
		ID: "v1.0", Status: "CURRENT", Updated: "2012-08-01T00:00:00Z",
		Links: []link{{Href: rc.base.versions, Rel: "self"}},
	}}})
}

// healthcheck mimics oslo.middleware's healthcheck with the disable_by_file backend.
func (a *API) healthcheck(w http.ResponseWriter, r *http.Request) error {
	status, body := http.StatusOK, "OK"
	if _, err := os.Stat(a.cfg.HealthcheckDisableFile); err == nil {
		status, body = http.StatusServiceUnavailable, "DISABLED BY FILE"
	} else if !errors.Is(err, fs.ErrNotExist) {
		reqCtx(r).logger().WithError(err).Warn("healthcheck: cannot stat disable file")
	}
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = io.WriteString(w, body)
	}
	return nil
}
