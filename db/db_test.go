package db

import (
	"io/fs"
	"regexp"
	"strconv"
	"testing"
)

// Every version has an up and a down file, versions are contiguous from 1, and Head is the last one.
func TestMigrationFiles(t *testing.T) {
	names, err := fs.Glob(Migrations, "migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^migrations/(\d{4})_[a-z0-9_]+\.(up|down)\.sql$`)
	dirs := map[int]map[string]bool{}
	for _, n := range names {
		m := re.FindStringSubmatch(n)
		if m == nil {
			t.Errorf("badly named migration %s", n)
			continue
		}
		v, _ := strconv.Atoi(m[1])
		if dirs[v] == nil {
			dirs[v] = map[string]bool{}
		}
		dirs[v][m[2]] = true
	}
	for v := 1; v <= Head; v++ {
		if !dirs[v]["up"] || !dirs[v]["down"] {
			t.Errorf("version %d: want up and down files, have %v", v, dirs[v])
		}
	}
	if len(dirs) != Head {
		t.Errorf("%d versions on disk, Head = %d", len(dirs), Head)
	}
	if AlembicRevisions[AlembicHead] == 0 || AlembicRevisions[AlembicHead] > Head {
		t.Errorf("alembic head %s maps to %d", AlembicHead, AlembicRevisions[AlembicHead])
	}
}
