package local

import (
	"context"
	"reflect"
	"testing"

	"github.com/trove-go/trove/pkg/compute"
)

// ServerAddresses must follow state.json as another process (here a second driver on the same state dir, as the
// taskmanager beside trove-api) changes it, and report only servers that exist with an address.
func TestServerAddressesFollowsState(t *testing.T) {
	reader, _ := newTestDriver(t, "127.77.0.0/24")
	writer := New(reader.cfg, reader.log)
	ctx := context.Background()
	addr := func(a string) []compute.Address { return []compute.Address{{Network: "local", Addr: a, Version: 4}} }
	steps := []struct {
		name   string
		change func(s *state) error
		want   map[string][]compute.Address
	}{
		{"no state file", nil, map[string][]compute.Address{}},
		{"server a", func(s *state) error {
			s.Servers["a"] = server{Name: "a"}
			_, err := s.allocate(reader.cfg.AddressPool, "a")
			return err
		}, map[string][]compute.Address{"a": addr("127.77.0.1")}},
		{"address without server (volume only) is not reported", func(s *state) error {
			_, err := s.allocate(reader.cfg.AddressPool, "b")
			return err
		}, map[string][]compute.Address{"a": addr("127.77.0.1")}},
		{"server b", func(s *state) error { s.Servers["b"] = server{Name: "b"}; return nil },
			map[string][]compute.Address{"a": addr("127.77.0.1"), "b": addr("127.77.0.2")}},
		{"a deleted", func(s *state) error { delete(s.Servers, "a"); delete(s.Addresses, "a"); return nil },
			map[string][]compute.Address{"b": addr("127.77.0.2")}},
		{"server without address", func(s *state) error { s.Servers["c"] = server{Name: "c"}; return nil },
			map[string][]compute.Address{"b": addr("127.77.0.2")}},
	}
	for _, st := range steps {
		if st.change != nil {
			if err := writer.update(st.change); err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
		}
		for i := 0; i < 2; i++ { // the second call is served from the cache
			got, err := reader.ServerAddresses(ctx, []string{"a", "b", "c", "missing"})
			if err != nil || !reflect.DeepEqual(got, st.want) {
				t.Fatalf("%s (call %d): got %v %v, want %v", st.name, i, got, err, st.want)
			}
		}
		for id, want := range st.want {
			srv, err := reader.GetServer(ctx, id)
			if err != nil || !reflect.DeepEqual(srv.Addresses, want) {
				t.Fatalf("%s: GetServer(%s) %v %v, ServerAddresses said %v", st.name, id, srv.Addresses, err, want)
			}
		}
	}
	got, err := reader.ServerAddresses(ctx, []string{"b"})
	if err != nil || len(got) != 1 || got["b"][0].Addr != "127.77.0.2" {
		t.Fatalf("subset: %v %v", got, err)
	}
}
