// Package charsets knows the character sets and collations a database may be created with, per datastore
// manager, so that trove-api refuses an unknown one before anything is created (the guest would otherwise fail
// after a 202) and the guest agent can apply the same tables:
//
//   - mysql: Trove's own table (trove/common/db/mysql/data.py), checked the way MySQLSchema does;
//   - mariadb: the same table without what MariaDB 10.11 does not have (utf8mb4_0900_ai_ci, gb18030);
//   - postgresql: PostgreSQL's server encodings and their aliases (src/common/encnames.c), and locale names of
//     the form language[_territory][.codeset][@modifier] (or C, POSIX, C.<codeset>) whose codeset, when it names
//     a PostgreSQL encoding, is the database's encoding (the guest's cluster is UTF8 when none is given).
//
// Messages are Trove's ("'klingon' not a valid character set."), with the echoed value cut to redact.Echo
// characters.
package charsets

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/trove-go/trove/pkg/redact"
)

// Check validates a database's character set and collation ("" = not given) for a datastore manager. A
// manager without a table (not mysql, mariadb or postgresql) accepts anything.
func Check(manager, characterSet, collate string) error {
	switch manager {
	case "mysql":
		return checkMySQL(mysqlCollations, mysqlCharsets, characterSet, collate)
	case "mariadb":
		return checkMySQL(mariadbCollations, mariadbCharsets, characterSet, collate)
	case "postgresql":
		return checkPostgreSQL(characterSet, collate)
	}
	return nil
}

// Error is a refused character set or collation; its message is Trove's.
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

func shown(s string) string { return redact.Trunc(s, redact.Echo) }

func badCharset(cs string) error {
	return &Error{fmt.Sprintf("'%s' not a valid character set.", shown(cs))}
}
func badCollation(c string) error {
	return &Error{fmt.Sprintf("'%s' not a valid collation.", shown(c))}
}
func mismatch(c, cs string) error {
	return &Error{fmt.Sprintf("%s not a valid collation for charset %s.", shown(c), shown(cs))}
}

// notOnMariaDB are the collations of Trove's table that MariaDB 10.11 does not know (its
// information_schema.COLLATION_CHARACTER_SET_APPLICABILITY; utf8_* are aliases of utf8mb3_* there).
var notOnMariaDB = []string{"utf8mb4_0900_ai_ci", "gb18030_chinese_ci", "gb18030_bin", "gb18030_unicode_520_ci"}

var (
	mysqlCharsets     = charsetsOf(mysqlCollations)
	mariadbCollations = without(mysqlCollations, notOnMariaDB)
	mariadbCharsets   = charsetsOf(mariadbCollations)
)

func charsetsOf(collations map[string]string) map[string]bool {
	out := map[string]bool{}
	for _, cs := range collations {
		out[cs] = true
	}
	return out
}

func without(m map[string]string, drop []string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	for _, k := range drop {
		delete(out, k)
	}
	return out
}

// checkMySQL is MySQLSchema's character_set and collate setters: names are compared exactly (Trove's table is
// lower case); a collation given with a character set must belong to it.
func checkMySQL(collations map[string]string, charsets map[string]bool, cs, collate string) error {
	if cs != "" && !charsets[cs] {
		return badCharset(cs)
	}
	if collate == "" {
		return nil
	}
	of, ok := collations[collate]
	switch {
	case cs != "" && of != cs:
		return mismatch(collate, cs)
	case !ok:
		return badCollation(collate)
	}
	return nil
}

// pgEncodings maps PostgreSQL's cleaned encoding names (lower case, alphanumerics only, as pg_char_to_encoding
// compares them) to the encoding's official name, for the server encodings that CREATE DATABASE accepts.
var pgEncodings = map[string]string{
	"abc": "WIN1258", "alt": "WIN866", "euccn": "EUC_CN", "eucjis2004": "EUC_JIS_2004", "eucjp": "EUC_JP",
	"euckr": "EUC_KR", "euctw": "EUC_TW", "iso88591": "LATIN1", "iso885910": "LATIN6", "iso885913": "LATIN7",
	"iso885914": "LATIN8", "iso885915": "LATIN9", "iso885916": "LATIN10", "iso88592": "LATIN2",
	"iso88593": "LATIN3", "iso88594": "LATIN4", "iso88595": "ISO_8859_5", "iso88596": "ISO_8859_6",
	"iso88597": "ISO_8859_7", "iso88598": "ISO_8859_8", "iso88599": "LATIN5", "koi8": "KOI8R", "koi8r": "KOI8R",
	"koi8u": "KOI8U", "latin1": "LATIN1", "latin10": "LATIN10", "latin2": "LATIN2", "latin3": "LATIN3",
	"latin4": "LATIN4", "latin5": "LATIN5", "latin6": "LATIN6", "latin7": "LATIN7", "latin8": "LATIN8",
	"latin9": "LATIN9", "muleinternal": "MULE_INTERNAL", "sqlascii": "SQL_ASCII", "tcvn": "WIN1258",
	"tcvn5712": "WIN1258", "unicode": "UTF8", "utf8": "UTF8", "vscii": "WIN1258", "win": "WIN1251",
	"win1250": "WIN1250", "win1251": "WIN1251", "win1252": "WIN1252", "win1253": "WIN1253", "win1254": "WIN1254",
	"win1255": "WIN1255", "win1256": "WIN1256", "win1257": "WIN1257", "win1258": "WIN1258", "win866": "WIN866",
	"win874": "WIN874", "windows1250": "WIN1250", "windows1251": "WIN1251", "windows1252": "WIN1252",
	"windows1253": "WIN1253", "windows1254": "WIN1254", "windows1255": "WIN1255", "windows1256": "WIN1256",
	"windows1257": "WIN1257", "windows1258": "WIN1258", "windows866": "WIN866", "windows874": "WIN874",
}

// pgClientOnly are PostgreSQL encodings a client may use but a database may not be created with.
var pgClientOnly = map[string]bool{
	"big5": true, "gb18030": true, "gbk": true, "johab": true, "mskanji": true, "shiftjis": true,
	"shiftjis2004": true, "sjis": true, "uhc": true, "win932": true, "win936": true, "win949": true, "win950": true,
	"windows932": true, "windows936": true, "windows949": true, "windows950": true,
}

// cleanEncoding is PostgreSQL's clean_encoding_name: lower case, alphanumerics only ("" beyond NAMEDATALEN).
func cleanEncoding(name string) string {
	if len(name) >= 64 {
		return ""
	}
	var b strings.Builder
	for _, r := range name {
		switch {
		case r >= 'A' && r <= 'Z':
			b.WriteRune(r + 'a' - 'A')
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}

// pgLocale is a locale name setlocale may know: C, POSIX, C.<codeset> or
// language[_territory][.codeset][@modifier]; group 1 is the codeset.
var pgLocale = regexp.MustCompile(`^(?:C|POSIX|C\.([A-Za-z0-9-]{1,32})|[a-z]{2,3}(?:_[A-Z]{2}|_[0-9]{3})?(?:\.([A-Za-z0-9-]{1,32}))?(?:@[A-Za-z0-9]{1,32})?)$`)

func checkPostgreSQL(cs, collate string) error {
	enc := "UTF8" // the guest's cluster encoding, used when none is given
	if cs != "" {
		if enc = pgEncodings[cleanEncoding(cs)]; enc == "" {
			return badCharset(cs)
		}
	}
	if collate == "" {
		return nil
	}
	m := pgLocale.FindStringSubmatch(collate)
	if m == nil {
		return badCollation(collate)
	}
	codeset := cleanEncoding(m[1] + m[2])
	if codeset == "" || enc == "SQL_ASCII" {
		return nil
	}
	// The locale's codeset must be the database's encoding (PostgreSQL refuses the pair otherwise); a codeset
	// PostgreSQL does not know is left to the server.
	if le := pgEncodings[codeset]; le != "" && le != enc || pgClientOnly[codeset] {
		if cs == "" {
			cs = enc
		}
		return mismatch(collate, cs)
	}
	return nil
}
