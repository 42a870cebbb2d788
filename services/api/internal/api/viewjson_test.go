package api

import (
	"bytes"
	"encoding/json"
	"testing"
)

func strp(s string) *string { return &s }

func sampleViews() map[string]instanceView {
	base := baseURL{host: "trove.example:8779", tenant: "p1"}
	yes, no := true, false
	used, pct := 0.25, 12.5
	list := instanceView{ID: "9f1c", Name: "db-1", Status: "ACTIVE", OperatingStatus: "HEALTHY",
		Links: base.links("instances", "9f1c"), Flavor: idLinks{ID: "1", Links: base.links("flavors", "1")},
		Datastore: instanceDatastore{Type: strp("mysql"), Version: strp("8.0")}, Region: "RegionOne",
		Access: emptyAccess, Volume: &instanceVolume{Size: 1}}
	detail := list
	detail.Datastore.VersionNumber = strp("8.0.36")
	detail.Hostname, detail.TenantID, detail.Created, detail.Updated = "h1", "p1", "2026-01-02T03:04:05", "2026-01-02T03:04:06"
	detail.ServiceStatusUpdated, detail.ClusterID, detail.ShardID = "2026-01-02T03:04:07", "c1", "s1"
	detail.IP = []string{"127.0.0.5"}
	detail.Addresses = []addressView{{Address: "127.0.0.5", Type: "private", Network: "lo"}}
	detail.ReplicaOf = &idLinks{ID: "r1", Links: base.links("instances", "r1")}
	detail.Fault = &instanceFault{Message: "boom <b>", Created: "2026-01-02T03:04:05", Details: strp("trace\n")}
	detail.Configuration = &configurationRef{ID: "cfg", Name: "g", Links: base.links("configurations", "cfg")}
	detail.ServerID, detail.VolumeID, detail.EncryptedRPC = stringOrNull("srv"), stringOrNull(""), &yes
	detail.Password = "p\"w\\d"
	detail.Volume = &instanceVolume{Size: 2, Used: &used, UsedPercent: &pct, Extra: map[string]any{"a": "<x>", "z": 1}}
	detail.Access = json.RawMessage(`{ "is_public": true, "allowed_cidrs": ["10.0.0.0/8"] }`)
	tricky := list
	tricky.Name = "naïve <&> \"quoted\" \\ \t\n\r\b\f \x01 \x7f \u2028 \u2029 \xff end"
	tricky.Region = "é"
	tricky.Links, tricky.Flavor.Links = nil, nil
	tricky.Datastore = instanceDatastore{}
	tricky.Access = nil
	tricky.Volume = nil
	tricky.EncryptedRPC = &no
	tricky.Hostname = "<"
	empty := instanceView{}
	addressed := list
	addressed.IP = []string{"127.77.0.1", "10.0.0.<1>"}
	addressed.Addresses = []addressView{{Address: "127.77.0.1", Type: "private", Network: "local"},
		{Address: "10.0.0.<1>", Type: "private"}, {Address: "é\"", Type: "\u2028", Network: "n\x01"}}
	return map[string]instanceView{"list": list, "detail": detail, "tricky": tricky, "empty": empty,
		"list with addresses": addressed}
}

// appendJSON must produce exactly json.Marshal's bytes for every field combination the views use.
func TestInstanceViewJSONMatchesEncodingJSON(t *testing.T) {
	for name, v := range sampleViews() {
		t.Run(name, func(t *testing.T) {
			want, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			if got := v.appendJSON(nil); !bytes.Equal(got, want) {
				t.Fatalf("appendJSON:\n got %s\nwant %s", got, want)
			}
		})
	}
}

func TestInstanceListJSONMatchesEncodingJSON(t *testing.T) {
	all := sampleViews()
	next := []link{{Href: "https://h/v1.0/p/instances?limit=2&marker=9f1c", Rel: "next"}}
	tests := []struct {
		name  string
		views []instanceView
		links []link
	}{
		{"empty page", []instanceView{}, nil},
		{"one, no next", []instanceView{all["list"]}, nil},
		{"two with next", []instanceView{all["list"], all["tricky"]}, next},
		{"empty links omitted", []instanceView{all["detail"]}, []link{}},
		{"with and without addresses", []instanceView{all["list with addresses"], all["list"], all["list with addresses"]}, next},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := struct {
				Instances []instanceView `json:"instances"`
				Links     []link         `json:"links,omitempty"`
			}{tc.views, tc.links}
			want, err := json.Marshal(body)
			if err != nil {
				t.Fatal(err)
			}
			got := appendInstanceList([]byte("prefix"), len(tc.views), func(i int) instanceView { return tc.views[i] }, tc.links)
			if !bytes.Equal(got, append([]byte("prefix"), want...)) {
				t.Fatalf("appendInstanceList:\n got %s\nwant prefix%s", got, want)
			}
		})
	}
}

// FuzzInstanceViewJSON checks arbitrary strings in every hand-encoded string field against encoding/json.
func FuzzInstanceViewJSON(f *testing.F) {
	f.Add("db-1", "RegionOne", "h", "https://x/v1.0/p/instances/1")
	f.Add("<&>\"\\", "\u2028", "\xff\xfe", "\x00\x1f\x7f")
	f.Fuzz(func(t *testing.T, name, region, host, href string) {
		v := sampleViews()["detail"]
		v.Name, v.Region, v.Hostname, v.ID, v.Status = name, region, host, href, region
		v.Links = []link{{Href: href, Rel: name}}
		v.Datastore.Type, v.TenantID, v.Password = &host, name, href
		v.IP = []string{host, region}
		v.Addresses = []addressView{{Address: host, Type: name, Network: region}, {Address: href, Type: "private"}}
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if got := v.appendJSON(nil); !bytes.Equal(got, want) {
			t.Fatalf("appendJSON:\n got %s\nwant %s", got, want)
		}
	})
}
