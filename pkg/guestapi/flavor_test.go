package guestapi

import (
	"maps"
	"testing"
)

// Trove's templates: mysql/mariadb innodb_buffer_pool_size = 150·ram/512 M; postgresql shared_buffers 10 % of
// RAM below 3 GB (25 % from 3 GB), effective_cache_size max(ram − 512, 512) MB.
func TestFlavorConfiguration(t *testing.T) {
	cases := []struct {
		mgr  string
		ram  int
		want map[string]string
	}{
		{"mariadb", 512, map[string]string{"innodb_buffer_pool_size": "150M"}},
		{"mysql", 1024, map[string]string{"innodb_buffer_pool_size": "300M"}},
		{"postgresql", 512, map[string]string{"shared_buffers": "51MB", "effective_cache_size": "512MB"}},
		{"postgresql", 1024, map[string]string{"shared_buffers": "102MB", "effective_cache_size": "512MB"}},
		{"postgresql", 4096, map[string]string{"shared_buffers": "1024MB", "effective_cache_size": "3584MB"}},
		{"mongodb", 1024, map[string]string{}},
		{"mysql", 0, map[string]string{}},
	}
	for _, c := range cases {
		if got := FlavorConfiguration(c.mgr, c.ram); !maps.Equal(got, c.want) {
			t.Errorf("FlavorConfiguration(%s, %d) = %v, want %v", c.mgr, c.ram, got, c.want)
		}
		// What the taskmanager renders, the guest reads back.
		got, err := ParseFlavorConfiguration("[mysqld]\nmax_connections = 100\n" + RenderFlavorConfiguration(c.mgr, c.ram))
		if err != nil || !maps.Equal(got, c.want) {
			t.Errorf("round trip %s %d: %v, %v; want %v", c.mgr, c.ram, got, err, c.want)
		}
	}
	for _, bad := range []string{"innodb_buffer_pool_size = 1G; DROP", "shared_buffers = '0'", "effective_cache_size = -1MB",
		"shared_buffers = 99999999999MB"} {
		if _, err := ParseFlavorConfiguration(bad); err == nil {
			t.Errorf("ParseFlavorConfiguration(%q) accepted", bad)
		}
	}
}
