package schema

import (
	"strings"
	"testing"
)

// The decoders must never panic, and whatever they accept must satisfy the invariants handlers rely on.
func FuzzParseCreateInstance(f *testing.F) {
	f.Add([]byte(`{"instance": {"name": "db1", "flavorRef": "1", "volume": {"size": 1}}}`))
	f.Add([]byte(`{"instance": {"name": "x", "users": [{"name": "u", "password": "p", "databases": [{"name": "d"}]}], "databases": [{"name": "d"}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := Decode(data)
		if err != nil {
			return
		}
		c, err := ParseCreateInstance(doc)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "Validation error: ") {
				t.Fatalf("message %q", err)
			}
			return
		}
		if !matchesNES(c.Name) || pyLen(c.Name) > 255 {
			t.Fatalf("accepted name %q", c.Name)
		}
		if c.Volume != nil && c.Volume.Size < 1 {
			t.Fatalf("accepted volume size %d", c.Volume.Size)
		}
		if len(c.Nics) > 1 || c.ReplicaCount < 0 || c.ReplicaCount > 3 {
			t.Fatalf("accepted %+v", c)
		}
		for _, u := range c.Users {
			if u.Name == "" || u.Password == "" {
				t.Fatalf("accepted user %+v", u)
			}
		}
	})
}

func FuzzParseUpdateInstance(f *testing.F) {
	f.Add([]byte(`{"instance": {"name": "new"}}`), false)
	f.Add([]byte(`{"instance": {"slave_of": null, "configuration": null}}`), true)
	f.Fuzz(func(t *testing.T, data []byte, patch bool) {
		doc, err := Decode(data)
		if err != nil {
			return
		}
		u, err := ParseUpdateInstance(doc, patch)
		if err != nil {
			return
		}
		if u.Name != nil && !matchesNES(*u.Name) {
			t.Fatalf("accepted name %q", *u.Name)
		}
		if u.Configuration != nil && !IsUUID(*u.Configuration) {
			t.Fatalf("accepted configuration %q", *u.Configuration)
		}
	})
}

func FuzzParseQuotaUpdate(f *testing.F) {
	f.Add([]byte(`{"quotas": {"instances": 20, "ram": -1}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := Decode(data)
		if err != nil {
			return
		}
		q, err := ParseQuotaUpdate(doc)
		if err != nil {
			return
		}
		for k, v := range q.Limits {
			if v < -1 {
				t.Fatalf("accepted %s = %d", k, v)
			}
		}
	})
}

func FuzzParseInstanceAction(f *testing.F) {
	f.Add([]byte(`{"resize": {"volume": {"size": 5}}}`))
	f.Add([]byte(`{"reset_status": {"force_delete": 1}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := Decode(data)
		if err != nil {
			return
		}
		a, err := ParseInstanceAction(doc)
		if err != nil {
			return
		}
		if a.Kind == ActionResizeVolume && a.VolumeSize < 1 {
			t.Fatalf("accepted %+v", a)
		}
	})
}

// The guest-facing bodies (users, databases, root) and configuration groups: no panics, invariants on success.
func FuzzParseGuestBodies(f *testing.F) {
	f.Add([]byte(`{"users": [{"name": "u", "password": "p", "host": "%", "databases": [{"name": "d"}]}]}`))
	f.Add([]byte(`{"user": {"name": "n"}, "databases": [{"name": "a"}], "configuration": {"name": "g", "values": {"a": 1}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := Decode(data)
		if err != nil {
			return
		}
		if us, err := ParseCreateUsers(doc); err == nil {
			for _, u := range us {
				if !matchesNES(u.Name) || !matchesNES(u.Password) {
					t.Fatalf("accepted user %+v", u)
				}
			}
		}
		if dbs, err := ParseCreateDatabases(doc); err == nil && len(dbs) == 0 {
			t.Fatalf("accepted no databases")
		}
		if u, err := ParseUserUpdate(doc); err == nil && u.Name == nil && u.Password == nil && u.Host == nil {
			t.Fatalf("accepted an empty user update")
		}
		if c, err := ParseConfiguration(doc, ConfigCreate); err == nil && (c.Name == nil || c.Values == nil) {
			t.Fatalf("accepted configuration %+v", c)
		}
		_, _ = ParseRootEnable(doc)
		_, _ = ParseGrantAccess(doc)
	})
}
