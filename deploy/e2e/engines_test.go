package e2e

import (
	"os/exec"
	"strings"
	"testing"
)

// Issue 9: no datastore silently runs another engine. Debian ships no MySQL server, so on the local driver the
// `mysql` datastore runs MariaDB — and every active version of it must say so in its name (`mariadb-<version>`),
// while the version a client sees in the server is MariaDB's.
func TestMySQLDatastoreNamesTheEngineItRuns(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("/usr/sbin/mariadbd", "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("mariadbd --version (make run installs mariadb-server): %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "MariaDB") {
		t.Fatalf("/usr/sbin/mariadbd is not MariaDB: %s", out)
	}
	c := demo(t)
	var versions []struct {
		Name    string `json:"Name"`
		Version string `json:"Version"`
	}
	c.json(&versions, "datastore", "version", "list", "mysql")
	if len(versions) == 0 {
		t.Fatal("datastore mysql has no active version (deploy/run.sh registers it)")
	}
	for _, v := range versions {
		if !strings.HasPrefix(v.Name, "mariadb-") {
			t.Errorf("datastore mysql version %q (number %q) runs MariaDB on the local driver but its name does not say so", v.Name, v.Version)
		}
		if !strings.Contains(string(out), "Ver "+v.Version+".") {
			t.Errorf("datastore mysql version %q claims version number %q, but the server installed is %s", v.Name, v.Version, strings.TrimSpace(string(out)))
		}
	}
}
