// Package schema decodes and validates trove-api request bodies. It reproduces Trove's JSON-schema rules
// (apischema.py, Draft 4, Python `re.search` pattern semantics) as hand-written typed checks, producing Trove's
// message style ("Validation error: instance['name'] '!!' does not match '^.*[0-9a-zA-Z]+.*$'"), and returns
// typed request structs so handlers never touch map[string]any.
package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/trove-go/trove/pkg/redact"
)

// Error is a validation failure; it renders as Trove's 400 badRequest message.
type Error struct {
	Path []any // string keys and int indexes
	Msg  string
	Sub  []string // messages of the alternatives of a oneOf
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("Validation error: ")
	for i, p := range e.Path {
		switch x := p.(type) {
		case string:
			if i == 0 {
				b.WriteString(redact.Trunc(x, redact.Echo))
			} else {
				b.WriteString("[" + keyRepr(x) + "]")
			}
		case int:
			if i == 0 {
				b.WriteString(strconv.Itoa(x))
			} else {
				b.WriteString("[" + strconv.Itoa(x) + "]")
			}
		}
	}
	if len(e.Path) > 0 {
		b.WriteByte(' ')
	}
	b.WriteString(e.Msg)
	for _, s := range e.Sub {
		b.WriteString("; ")
		b.WriteString(s)
	}
	return b.String()
}

// MalformedError is a body that is not JSON at all (Trove: "Malformed message body").
type MalformedError struct{ Reason string }

func (e *MalformedError) Error() string { return "Malformed message body: " + e.Reason }

// Decode parses a JSON document keeping numbers as written (Draft 4 tells 1 from 1.0). Trailing data is an error.
func Decode(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &MalformedError{Reason: "empty body"}
		}
		return nil, &MalformedError{Reason: err.Error()}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &MalformedError{Reason: "extra data after the JSON document"}
	}
	return v, nil
}

// path is an immutable JSON path; append copies.
type path []any

func (p path) key(k string) path { return append(append(path(nil), p...), k) }
func (p path) idx(i int) path    { return append(append(path(nil), p...), i) }

func fail(p path, format string, args ...any) *Error {
	return &Error{Path: p, Msg: fmt.Sprintf(format, args...)}
}

func typeErr(p path, v any, typ string) *Error {
	return fail(p, "%s is not of type %s", shown(p, v), strRepr(typ))
}

// object checks the type and returns the map.
func object(p path, v any) (map[string]any, *Error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, typeErr(p, v, "object")
	}
	return m, nil
}

func required(p path, m map[string]any, keys ...string) *Error {
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			return fail(p, "%s is a required property", strRepr(k))
		}
	}
	return nil
}

// maxListed is how many unexpected keys a message names.
const maxListed = 8

// closed enforces additionalProperties: false with jsonschema's message.
func closed(p path, m map[string]any, allowed ...string) *Error {
	var extra []string
	for k := range m {
		ok := false
		for _, a := range allowed {
			if k == a {
				ok = true
				break
			}
		}
		if !ok {
			extra = append(extra, k)
		}
	}
	if len(extra) == 0 {
		return nil
	}
	slices.Sort(extra)
	quoted := make([]string, 0, min(len(extra), maxListed)+1)
	for i, k := range extra {
		if i == maxListed { // jsonschema lists them all; a message stays bounded
			quoted = append(quoted, redact.Ellipsis)
			break
		}
		quoted = append(quoted, keyRepr(k))
	}
	verb := "was"
	if len(extra) > 1 {
		verb = "were"
	}
	return fail(p, "Additional properties are not allowed (%s %s unexpected)", strings.Join(quoted, ", "), verb)
}

// pyLen is Python's len() of a str: code points.
func pyLen(s string) int { return utf8.RuneCountInString(s) }

// str checks a string with length bounds (max < 0: unbounded).
func str(p path, v any, min, max int) (string, *Error) {
	s, ok := v.(string)
	if !ok {
		return "", typeErr(p, v, "string")
	}
	if n := pyLen(s); n < min {
		return "", fail(p, "%s is too short", shown(p, v))
	} else if max >= 0 && n > max {
		return "", fail(p, "%s is too long", shown(p, v))
	}
	return s, nil
}

// dollarBody returns the part of s that a Python `...$` pattern must match: `$` also matches before one
// trailing newline. `.` does not match a newline, so any other newline makes `^.*X.*$` fail (ok=false).
func dollarBody(s string) (string, bool) {
	s = strings.TrimSuffix(s, "\n")
	return s, !strings.Contains(s, "\n")
}

const nesPattern = `^.*[0-9a-zA-Z]+.*$`

// matchesNES is re.search(r'^.*[0-9a-zA-Z]+.*$', s).
func matchesNES(s string) bool {
	body, ok := dollarBody(s)
	if !ok {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
			return true
		}
	}
	return false
}

func patternErr(p path, v any, pattern string) *Error {
	return fail(p, "%s does not match %s", shown(p, v), strRepr(pattern))
}

// NES: non_empty_string.
func nes(p path, v any) (string, *Error) {
	s, err := str(p, v, 1, 255)
	if err != nil {
		return "", err
	}
	if !matchesNES(s) {
		return "", patternErr(p, v, nesPattern)
	}
	return s, nil
}

// NAME: name_string (no maximum length).
func name(p path, v any) (string, *Error) {
	s, err := str(p, v, 1, -1)
	if err != nil {
		return "", err
	}
	if !matchesNES(s) {
		return "", patternErr(p, v, nesPattern)
	}
	return s, nil
}

const uuidPattern = `^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$`

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// IsUUID is Trove's UUID pattern (hex groups 8-4-4-4-12, either case; a trailing newline passes like in Python).
func IsUUID(s string) bool {
	body := strings.TrimSuffix(s, "\n")
	if len(body) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if body[i] != '-' {
				return false
			}
		} else if !isHex(body[i]) {
			return false
		}
	}
	return true
}

func uuid(p path, v any) (string, *Error) {
	s, err := str(p, v, 1, 64)
	if err != nil {
		return "", err
	}
	if !IsUUID(s) {
		return "", patternErr(p, v, uuidPattern)
	}
	return strings.TrimSuffix(s, "\n"), nil
}

// integer returns a Draft 4 integer (an integer literal, not 1.0, not a bool).
func integer(p path, v any) (int64, *Error) {
	n, ok := v.(json.Number)
	if !ok || !isIntegerText(string(n)) {
		return 0, typeErr(p, v, "integer")
	}
	i, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil { // beyond int64: saturate, callers compare against limits
		if strings.HasPrefix(string(n), "-") {
			return -1 << 63, nil
		}
		return 1<<63 - 1, nil
	}
	return i, nil
}

func boolean(p path, v any) (bool, *Error) {
	b, ok := v.(bool)
	if !ok {
		return false, typeErr(p, v, "boolean")
	}
	return b, nil
}

func array(p path, v any) ([]any, *Error) {
	a, ok := v.([]any)
	if !ok {
		return nil, typeErr(p, v, "array")
	}
	return a, nil
}

func notValidUnderAny(p path, v any, subs ...*Error) *Error {
	e := fail(p, "%s is not valid under any of the given schemas", shown(p, v))
	for _, s := range subs {
		e.Sub = append(e.Sub, s.Msg)
	}
	return e
}

const volsizePattern = `^0*[1-9]+[0-9]*$`

// volSize is VOLSIZE: integer ≥ 1, or a string of ≤ 40 digits that is not all zeros.
func volSize(p path, v any) (int64, *Error) {
	if n, err := integer(p, v); err == nil {
		if n < 1 {
			return 0, notValidUnderAny(p, v, fail(p, "%s is less than the minimum of 1", shown(p, v)), typeErr(p, v, "string"))
		}
		return n, nil
	}
	s, ok := v.(string)
	if !ok {
		return 0, notValidUnderAny(p, v, typeErr(p, v, "integer"), typeErr(p, v, "string"))
	}
	body := strings.TrimSuffix(s, "\n")
	valid := pyLen(s) >= 1 && pyLen(s) <= 40 && body != ""
	nonzero := false
	for i := 0; valid && i < len(body); i++ {
		if body[i] < '0' || body[i] > '9' {
			valid = false
		} else if body[i] != '0' {
			nonzero = true
		}
	}
	if !valid || !nonzero {
		return 0, notValidUnderAny(p, v, typeErr(p, v, "integer"), patternErr(p, v, volsizePattern))
	}
	n, err := strconv.ParseInt(strings.TrimLeft(body, "0"), 10, 64)
	if err != nil {
		n = 1<<63 - 1
	}
	return n, nil
}

// host is HOST: ^[%]?[\w(-).]*[%]?$ (\w is Unicode in Python 3).
func host(p path, v any) (string, *Error) {
	s, err := str(p, v, 1, -1)
	if err != nil {
		return "", err
	}
	body, ok := dollarBody(s)
	if ok {
		inner := strings.TrimPrefix(body, "%")
		inner = strings.TrimSuffix(inner, "%")
		for _, r := range inner {
			if !(r == '_' || r == '(' || r == ')' || r == '.' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r)) {
				ok = false
				break
			}
		}
	}
	if !ok {
		return "", patternErr(p, v, `^[%]?[\w(-).]*[%]?$`)
	}
	return s, nil
}

// dottedQuad checks (?:[0-9]{1,3}\.){3}[0-9]{1,3}.
func dottedQuad(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return false
	}
	for _, part := range parts {
		if len(part) < 1 || len(part) > 3 {
			return false
		}
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return false
			}
		}
	}
	return true
}

func ipv4(p path, v any) (string, *Error) {
	s, err := str(p, v, 7, 15)
	if err != nil {
		return "", err
	}
	body, ok := dollarBody(s)
	if !ok || !dottedQuad(body) {
		return "", patternErr(p, v, `^(?:[0-9]{1,3}\.){3}[0-9]{1,3}$`)
	}
	return body, nil
}

const cidrPattern = `^([0-9]{1,3}\.){3}[0-9]{1,3}(\/([0-9]|[1-2][0-9]|3[0-2]))?$`

func cidr(p path, v any) (string, *Error) {
	s, ok := v.(string)
	if !ok {
		return "", typeErr(p, v, "string")
	}
	body, good := dollarBody(s)
	addr, mask, hasMask := strings.Cut(body, "/")
	good = good && dottedQuad(addr)
	if good && hasMask {
		n, err := strconv.Atoi(mask)
		good = err == nil && n >= 0 && n <= 32 && len(mask) <= 2 && strconv.Itoa(n) == mask
	}
	if !good {
		return "", patternErr(p, v, cidrPattern)
	}
	return body, nil
}

// uniqueItems is jsonschema's check (by value, compared through their canonical encodings).
func uniqueItems(p path, v any, items []any) *Error {
	seen := make(map[string]bool, len(items))
	for _, it := range items {
		k := repr(it)
		if seen[k] {
			return fail(p, "%s has non-unique elements", shown(p, v))
		}
		seen[k] = true
	}
	return nil
}
