package charsets

import (
	"database/sql"
	"errors"
	"strings"
	"testing"

	_ "github.com/go-sql-driver/mysql"

	"github.com/trove-go/trove/pkg/testenv"
)

func TestCheck(t *testing.T) {
	cases := []struct {
		manager, cs, collate string
		msg                  string // "" = accepted
	}{
		{"mysql", "", "", ""},
		{"mysql", "utf8mb4", "", ""},
		{"mysql", "utf8mb4", "utf8mb4_unicode_ci", ""},
		{"mysql", "", "latin1_swedish_ci", ""},
		{"mysql", "utf8mb4", "utf8mb4_0900_ai_ci", ""},
		{"mysql", "gb18030", "gb18030_bin", ""},
		{"mysql", "klingon", "", "'klingon' not a valid character set."},
		{"mysql", "UTF8MB4", "", "'UTF8MB4' not a valid character set."}, // Trove's table is compared exactly
		{"mysql", "", "klingon_ci", "'klingon_ci' not a valid collation."},
		{"mysql", "latin1", "utf8mb4_bin", "utf8mb4_bin not a valid collation for charset latin1."},
		{"mysql", "utf8", "klingon_ci", "klingon_ci not a valid collation for charset utf8."},
		{"mysql", strings.Repeat("k", 1000), "", "'" + strings.Repeat("k", 64) + "…' not a valid character set."},
		{"mariadb", "utf8", "utf8_general_ci", ""},
		{"mariadb", "utf8mb4", "utf8mb4_0900_ai_ci", "utf8mb4_0900_ai_ci not a valid collation for charset utf8mb4."},
		{"mariadb", "gb18030", "", "'gb18030' not a valid character set."},
		{"mariadb", "klingon", "", "'klingon' not a valid character set."},
		{"postgresql", "UTF8", "", ""},
		{"postgresql", "utf-8", "", ""},
		{"postgresql", "LATIN1", "", ""},
		{"postgresql", "ISO-8859-1", "", ""},
		{"postgresql", "SQL_ASCII", "en_US.ISO-8859-1", ""},
		{"postgresql", "WIN1251", "C", ""},
		{"postgresql", "", "C.UTF-8", ""},
		{"postgresql", "", "en_US.utf8", ""},
		{"postgresql", "", "en_US", ""},
		{"postgresql", "LATIN9", "de_DE.ISO-8859-15@euro", ""},
		{"postgresql", "UTF8", "sr_RS.UTF-8@latin", ""},
		{"postgresql", "UTF8", "POSIX", ""},
		{"postgresql", "klingon", "", "'klingon' not a valid character set."},
		{"postgresql", "SJIS", "", "'SJIS' not a valid character set."}, // a client-only encoding
		{"postgresql", "", "klingon", "'klingon' not a valid collation."},
		{"postgresql", "", "en_US.UTF-8'; DROP", "'en_US.UTF-8'; DROP' not a valid collation."},
		{"postgresql", "LATIN1", "en_US.UTF-8", "en_US.UTF-8 not a valid collation for charset LATIN1."},
		{"postgresql", "", "en_US.ISO-8859-1", "en_US.ISO-8859-1 not a valid collation for charset UTF8."},
		{"postgresql", "UTF8", "zh_TW.BIG5", "zh_TW.BIG5 not a valid collation for charset UTF8."},
		{"cassandra", "klingon", "klingon", ""},
	}
	for _, c := range cases {
		err := Check(c.manager, c.cs, c.collate)
		var ce *Error
		switch {
		case c.msg == "" && err != nil:
			t.Errorf("%s %q %q: refused: %v", c.manager, c.cs, c.collate, err)
		case c.msg != "" && (err == nil || err.Error() != c.msg || !errors.As(err, &ce)):
			t.Errorf("%s %q %q: %v, want %q", c.manager, c.cs, c.collate, err, c.msg)
		}
	}
}

// The mariadb table holds only what a real MariaDB knows, and notOnMariaDB only what it lacks: every pair is
// checked against information_schema of the test MariaDB (the 10.11 of Debian bookworm, which the local driver
// runs; utf8 is utf8mb3 there).
func TestMariaDBTableAgainstTheServer(t *testing.T) {
	db, err := sql.Open("mysql", testenv.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var version string
	if err := db.QueryRow("SELECT VERSION()").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(version, "MariaDB") {
		t.Fatalf("the test server is %s, not MariaDB", version)
	}
	rows, err := db.Query("SELECT COLLATION_NAME, CHARACTER_SET_NAME FROM information_schema.COLLATION_CHARACTER_SET_APPLICABILITY")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	server := map[string]string{}
	for rows.Next() {
		var c, cs string
		if err := rows.Scan(&c, &cs); err != nil {
			t.Fatal(err)
		}
		server[c] = cs
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	alias := func(s string) string {
		if s == "utf8" {
			return "utf8mb3"
		}
		if rest, ok := strings.CutPrefix(s, "utf8_"); ok {
			return "utf8mb3_" + rest
		}
		return s
	}
	for c, cs := range mariadbCollations {
		if server[alias(c)] != alias(cs) {
			t.Errorf("%s (%s) is in the mariadb table but MariaDB %s has %q", c, cs, version, server[alias(c)])
		}
	}
	for _, c := range notOnMariaDB {
		if _, ok := server[alias(c)]; ok {
			t.Errorf("%s is left out of the mariadb table but MariaDB %s has it", c, version)
		}
	}
	// And the server really creates a database with a pair the table accepts, and refuses one it refuses.
	if _, err := db.Exec("ALTER DATABASE CHARACTER SET latin1 COLLATE latin1_german2_ci"); err != nil {
		t.Errorf("a pair of the table: %v", err)
	}
	if Check("mariadb", "utf8mb4", "utf8mb4_0900_ai_ci") == nil {
		t.Fatal("utf8mb4_0900_ai_ci accepted for mariadb")
	}
	if _, err := db.Exec("ALTER DATABASE CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_ai_ci"); err == nil {
		t.Errorf("MariaDB %s accepted utf8mb4_0900_ai_ci, which the table refuses", version)
	}
}
