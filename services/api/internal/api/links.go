package api

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// link is one entry of a "links" list.
type link struct {
	Href string `json:"href"`
	Rel  string `json:"rel"`
}

// baseURL is what resource links are built from: the request's Host and the tenant in its path. The scheme is
// always https, as in Trove's create_links.
type baseURL struct {
	host     string
	tenant   string
	versions string // href of the version document
}

func baseFor(r *http.Request, publicEndpoint string) baseURL {
	b := baseURL{host: r.Host} // tenant: set once the path's tenant is checked
	if publicEndpoint != "" {
		b.versions = strings.TrimRight(publicEndpoint, "/") + "/v1.0/"
	} else {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		b.versions = scheme + "://" + r.Host + "/v1.0/"
	}
	return b
}

// resourceLinks is a resource's self and bookmark links: an array, so a view holds them inline (a list page
// renders two per instance).
type resourceLinks [2]link

func (b baseURL) links(resource, id string) resourceLinks {
	return resourceLinks{
		{Href: "https://" + b.host + "/v1.0/" + b.tenant + "/" + resource + "/" + id, Rel: "self"},
		{Href: "https://" + b.host + "/" + resource + "/" + id, Rel: "bookmark"},
	}
}

// nextLink is the pagination link: the request URL with marker replaced, scheme forced to https.
func nextLink(r *http.Request, marker string, limit int) []link {
	q := r.URL.Query()
	q.Set("marker", marker)
	if limit > 0 && q.Get("limit") != "" {
		q.Set("limit", strconv.Itoa(limit))
	}
	u := url.URL{Scheme: "https", Host: r.Host, Path: r.URL.Path, RawQuery: q.Encode()}
	return []link{{Href: u.String(), Rel: "next"}}
}
