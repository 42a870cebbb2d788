package guestapi

import (
	"fmt"
	"net"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/trove-go/trove/pkg/charsets"
	"github.com/trove-go/trove/pkg/redact"
)

// Rules are a datastore's name and password rules, as Trove's guest models (trove/common/db/<ds>/models.py)
// apply them. They are a first line of defence: the guest also quotes every identifier and literal. Messages
// repeat a name cut to redact.Echo characters, never a password. trove-api and the guest share them.
type Rules struct {
	Manager         string
	MaxDatabaseName int
	MaxUserName     int
	// ReservedDatabasePrefixes and ReservedUserPrefixes are the names the datastore keeps for itself
	// (PostgreSQL: template*, pg_*), refused whatever ignore_dbs/ignore_users say.
	ReservedDatabasePrefixes []string
	ReservedUserPrefixes     []string
	databaseName             func(string) bool
	userString               func(string) bool
	hostAllowed              func(string) bool
	charsetOrCollate         *regexp.Regexp
}

var (
	// MySQLSchema.dbname: at least two characters; word-ish ends, only whitespace ? # @ allowed inside.
	mysqlDBName = regexp.MustCompile(`^[A-Za-z0-9_-]+[\s?#@]*[A-Za-z0-9_-]+$`)
	// MySQLUser.not_supported_chars, applied to user names and passwords.
	mysqlBadChars = regexp.MustCompile("^\\s|\\s$|'|\"|;|`|,|/|\\\\")
	// PostgreSQLSchema.name_regex: at least two characters, not ending in whitespace.
	pgName = regexp.MustCompile(`^.+\S$`)
	// Character sets and collations are plain identifiers (the server rejects unknown ones).
	identWord = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)
)

func mysqlString(s string) bool {
	return s != "" && !mysqlBadChars.MatchString(s) && printable(s)
}

// printable mirrors Trove's `"%r" % value` backslash check: control characters and invalid UTF-8 are escaped
// by repr, so they are refused.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) && r != ' ' {
			return false
		}
	}
	return true
}

// mysqlHost implements hostname_require_valid_ip (default true): "%" or an IP address in which '%' may stand
// for any part.
func mysqlHost(h string) bool {
	if h == "" || h == "%" {
		return true
	}
	return net.ParseIP(strings.ReplaceAll(h, "%", "1")) != nil
}

// RulesFor returns the rules of a datastore manager (mysql, mariadb, postgresql).
func RulesFor(manager string) (Rules, error) {
	switch manager {
	case "mysql", "mariadb":
		r := Rules{
			Manager:         manager,
			MaxDatabaseName: 64,
			MaxUserName:     32,
			databaseName: func(s string) bool {
				return mysqlDBName.MatchString(s) && !strings.Contains(s, "\\") && printable(s)
			},
			userString:       mysqlString,
			hostAllowed:      mysqlHost,
			charsetOrCollate: identWord,
		}
		if manager == "mariadb" {
			r.MaxUserName = 80 // MariaDB's mysql.user.User is CHAR(80)
		}
		return r, nil
	case "postgresql":
		return Rules{
			Manager:                  manager,
			MaxDatabaseName:          63, // NAMEDATALEN-1
			MaxUserName:              63,
			ReservedDatabasePrefixes: []string{"template"},
			ReservedUserPrefixes:     []string{"pg_"},
			databaseName:             func(s string) bool { return pgName.MatchString(s) && printable(s) },
			userString:               func(s string) bool { return s != "" && printable(s) },
			hostAllowed:              func(h string) bool { return h == "" || h == "%" },
			charsetOrCollate:         regexp.MustCompile(`^[A-Za-z0-9_.@-]{1,64}$`),
		}, nil
	}
	return Rules{}, fmt.Errorf("unsupported datastore manager %q", manager)
}

// ReservedDatabase reports whether name starts with one of the datastore's reserved database prefixes.
func (r Rules) ReservedDatabase(name string) bool {
	return hasAnyPrefix(name, r.ReservedDatabasePrefixes)
}

// ReservedUser reports whether name starts with one of the datastore's reserved user prefixes.
func (r Rules) ReservedUser(name string) bool { return hasAnyPrefix(name, r.ReservedUserPrefixes) }

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// shown is a name as messages repeat it: cut to redact.Echo characters.
func shown(s string) string { return redact.Trunc(s, redact.Echo) }

// ValidateSchema checks a database name, character set and collation.
func (r Rules) ValidateSchema(s Schema) error {
	if err := r.ValidateDatabaseName(s.Name); err != nil {
		return err
	}
	for _, v := range []*string{s.CharacterSet, s.Collate} {
		if v != nil && *v != "" && !r.charsetOrCollate.MatchString(*v) {
			return fmt.Errorf("%q is not a valid character set or collation", shown(*v))
		}
	}
	return nil
}

// CheckCharset applies the known character sets and collations (pkg/charsets, the table trove-api checks) to
// a schema; the guest runs it before CREATE DATABASE. Its messages are Trove's.
func (r Rules) CheckCharset(s Schema) error {
	var cs, collate string
	if s.CharacterSet != nil {
		cs = *s.CharacterSet
	}
	if s.Collate != nil {
		collate = *s.Collate
	}
	return charsets.Check(r.Manager, cs, collate)
}

// ValidateDatabaseName checks a database name.
func (r Rules) ValidateDatabaseName(name string) error {
	if name == "" {
		return fmt.Errorf("database name is empty")
	}
	if utf8.RuneCountInString(name) > r.MaxDatabaseName {
		return fmt.Errorf("database name %q is longer than %d characters", shown(name), r.MaxDatabaseName)
	}
	if !r.databaseName(name) {
		return fmt.Errorf("%q is not a valid database name", shown(name))
	}
	return nil
}

// ValidateUserName checks a user name and host.
func (r Rules) ValidateUserName(name, host string) error {
	if name == "" {
		return fmt.Errorf("user name is empty")
	}
	if utf8.RuneCountInString(name) > r.MaxUserName {
		return fmt.Errorf("user name %q is longer than %d characters", shown(name), r.MaxUserName)
	}
	if !r.userString(name) {
		return fmt.Errorf("%q is not a valid user name", shown(name))
	}
	if !r.hostAllowed(host) {
		return fmt.Errorf("%q is not a valid host", shown(host))
	}
	return nil
}

// ValidatePassword checks a password; the error never contains it.
func (r Rules) ValidatePassword(pw string) error {
	if !r.userString(pw) {
		return fmt.Errorf("password contains characters not allowed for %s", r.Manager)
	}
	return nil
}

// ValidateUser checks a user dict: name, host, password (when set) and its databases.
func (r Rules) ValidateUser(u User) error {
	if err := r.ValidateUserName(u.Name, u.Host); err != nil {
		return err
	}
	if u.Password != nil {
		if err := r.ValidatePassword(*u.Password); err != nil {
			return err
		}
	}
	for _, d := range u.Databases {
		if err := r.ValidateDatabaseName(d.Name); err != nil {
			return err
		}
	}
	return nil
}
