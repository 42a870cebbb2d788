package keystone

import (
	"encoding/json"
	"testing"
)

func TestServiceURL(t *testing.T) {
	cat := json.RawMessage(`[{"type": "identity", "endpoints": [{"interface": "public", "region": "RegionOne", "url": "http://ks"}]},
		{"type": "object-store", "endpoints": [{"interface": "internal", "region": "RegionOne", "url": "http://internal/v1/AUTH_p"},
		{"interface": "public", "region": "RegionTwo", "url": "http://two/v1/AUTH_p"},
		{"interface": "public", "region": "RegionOne", "url": "http://one/v1/AUTH_p"}]}]`)
	for _, c := range []struct{ iface, region, want string }{
		{"", "RegionOne", "http://one/v1/AUTH_p"}, {"public", "RegionTwo", "http://two/v1/AUTH_p"},
		{"internal", "", "http://internal/v1/AUTH_p"}, {"admin", "", ""}, {"public", "RegionThree", ""},
	} {
		got, err := ServiceURL(cat, "object-store", c.iface, c.region)
		if got != c.want || (c.want == "") != (err != nil) {
			t.Errorf("%s/%s: %q %v, want %q", c.iface, c.region, got, err, c.want)
		}
	}
	if _, err := ServiceURL(nil, "object-store", "", ""); err == nil {
		t.Error("no catalog: no error")
	}
}
