package api

import (
	"net/http"
	"regexp"

	"github.com/trove-go/trove/services/api/internal/fault"
)

var (
	urlVersion    = regexp.MustCompile(`/v(\d+\.?\d*)`)
	acceptVersion = regexp.MustCompile(`application/vnd\.openstack\.trove(\+xml|\+json)?;version=(\d+\.?\d*)`)
)

// negotiate is Trove's versioned_urlmap: a URL without a /vN segment whose Accept header names
// application/vnd.openstack.trove;version=N is served by /vN (only v1.0 exists; any other N is 406).
func (a *API) negotiate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !urlVersion.MatchString(r.URL.Path) {
			if m := acceptVersion.FindStringSubmatch(r.Header.Get("Accept")); m != nil {
				if m[2] != "1.0" {
					fault.Write(w, fault.New(http.StatusNotAcceptable, "version not supported"))
					return
				}
				r2 := new(http.Request)
				*r2 = *r
				u := *r.URL
				u.Path, u.RawPath = "/v1.0"+u.Path, ""
				r2.URL, r2.RequestURI = &u, "/v1.0"+r.RequestURI
				r = r2
			}
		}
		next.ServeHTTP(w, r)
	})
}
