package api

import (
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/trove-go/trove/pkg/charsets"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/redact"
)

// Databases and users of a request are checked here with the rules the guest agent applies (guestapi.Rules:
// length, characters, hosts, passwords) and the known character sets and collations (pkg/charsets), so that
// what the guest would refuse is a 400 before anything is created or cast. Messages are Trove's model messages
// (trove/common/db/models.py, mysql/models.py); an echoed value is cut to redact.Echo characters and a
// password is never echoed.

// shown is a user-supplied value as messages repeat it.
func shown(s string) string { return redact.Trunc(s, redact.Echo) }

// schemaProblem is what is wrong with a database (name, character set, collation) for the datastore, or "".
func schemaProblem(rules guestapi.Rules, s guestapi.Schema) string {
	if utf8.RuneCountInString(s.Name) > rules.MaxDatabaseName {
		return fmt.Sprintf("Schema name '%s' is too long. Max length = %d.", shown(s.Name), rules.MaxDatabaseName)
	}
	if rules.ValidateDatabaseName(s.Name) != nil {
		return fmt.Sprintf("'%s' is not a valid schema name.", shown(s.Name))
	}
	var cs, collate string
	if s.CharacterSet != nil {
		cs = *s.CharacterSet
	}
	if s.Collate != nil {
		collate = *s.Collate
	}
	if err := charsets.Check(rules.Manager, cs, collate); err != nil {
		return err.Error()
	}
	if rules.ValidateSchema(s) != nil { // the guest's own character-set syntax, should a table ever be wider
		return fmt.Sprintf("'%s' / '%s' is not a valid character set and collation.", shown(cs), shown(collate))
	}
	return ""
}

// userProblem is what is wrong with a user's name, host or password (nil: not changed) for the datastore, or "".
func userProblem(rules guestapi.Rules, name, host string, password *string) string {
	if utf8.RuneCountInString(name) > rules.MaxUserName {
		return fmt.Sprintf("User name '%s' is too long. Max length = %d.", shown(name), rules.MaxUserName)
	}
	if rules.ValidateUserName(name, "") != nil {
		return fmt.Sprintf("'%s' is not a valid user name.", shown(name))
	}
	if rules.ValidateUserName(name, host) != nil {
		return fmt.Sprintf("'%s' is not a valid hostname.", shown(host))
	}
	if password != nil && rules.ValidatePassword(*password) != nil {
		return "The password is not valid." // Trove repeats it; we never do
	}
	return ""
}

// reservedDatabase: the manager's ignore_dbs, and the names the datastore keeps for itself (guestapi.Rules,
// shared with the guest: PostgreSQL's template*).
func reservedDatabase(rules guestapi.Rules, mgr ManagerConfig, name string) bool {
	return slices.Contains(mgr.IgnoreDBs, name) || rules.ReservedDatabase(name)
}

// reservedUser: the manager's ignore_users, and the datastore's own roles (guestapi.Rules: PostgreSQL's pg_*),
// which the guest refuses.
func reservedUser(rules guestapi.Rules, mgr ManagerConfig, name string) bool {
	return slices.Contains(mgr.IgnoreUsers, name) || rules.ReservedUser(name)
}
