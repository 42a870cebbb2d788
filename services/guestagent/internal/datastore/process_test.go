package datastore

import "testing"

func TestNamesPath(t *testing.T) {
	for _, c := range []struct {
		cmdline, dir string
		want         bool
	}{
		{"mariadbd\x00--datadir=/v/data\x00--port=3306", "/v/data", true},
		{"mariadbd\x00--defaults-file=/v/data/my.cnf", "/v/data", true},
		{"postgres\x00-D\x00/v/data", "/v/data", true},
		{"mariadbd\x00--datadir=/v/data2\x00", "/v/data", false},
		{"mariadbd\x00--datadir=/v/data2\x00--socket=/v/data/s", "/v/data", true},
		{"mariadbd", "/v/data", false},
	} {
		if got := namesPath(c.cmdline, c.dir); got != c.want {
			t.Errorf("namesPath(%q, %q) = %v, want %v", c.cmdline, c.dir, got, c.want)
		}
	}
}
