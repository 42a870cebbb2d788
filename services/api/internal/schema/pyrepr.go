package schema

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/trove-go/trove/pkg/redact"
)

// maxShown bounds one value rendered into a message (characters, before the closing ellipsis).
const maxShown = 4 * redact.Echo

// shown renders the value at p for a message, the way Python's repr() renders what json.loads produced
// (Trove's validation messages embed it: "Validation error: instance['name'] '!!' does not match ..."), with two
// deliberate differences: a value under a key named like a secret (redact.Secret: password, *_key, token …)
// is never shown ('***'), and each string is cut to redact.Echo characters and the whole to maxShown.
func shown(p path, v any) string {
	for _, k := range p {
		if s, ok := k.(string); ok && redact.Secret(s) {
			return strRepr(redact.Mask)
		}
	}
	r := reprWriter{bounded: true}
	r.write(v, 0)
	return r.b.String()
}

// repr is the full Python repr of a decoded JSON value (comparisons, tests); messages use shown.
func repr(v any) string {
	var r reprWriter
	r.write(v, 0)
	return r.b.String()
}

// keyRepr renders a key of a message's path or list: Python's repr, cut to redact.Echo characters.
func keyRepr(k string) string { return strRepr(redact.Trunc(k, redact.Echo)) }

type reprWriter struct {
	b       strings.Builder
	bounded bool // mask secrets, cut strings and the total
	full    bool // bounded and the limit was reached
}

// room reports whether more may be written; at the limit it writes the ellipsis once.
func (r *reprWriter) room() bool {
	if !r.bounded || r.b.Len() < maxShown {
		return true
	}
	if !r.full {
		r.full = true
		r.b.WriteString(redact.Ellipsis)
	}
	return false
}

func (r *reprWriter) str(s string) {
	if r.bounded {
		s = redact.Trunc(s, redact.Echo)
	}
	r.b.WriteString(strRepr(s))
}

func (r *reprWriter) write(v any, depth int) {
	b := &r.b
	if depth > 32 { // bodies are size-limited, but keep messages bounded anyway
		b.WriteString("...")
		return
	}
	if !r.room() {
		return
	}
	switch x := v.(type) {
	case nil:
		b.WriteString("None")
	case bool:
		if x {
			b.WriteString("True")
		} else {
			b.WriteString("False")
		}
	case json.Number:
		n := numberRepr(x)
		if r.bounded {
			n = redact.Trunc(n, redact.Echo)
		}
		b.WriteString(n)
	case string:
		r.str(x)
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			if !r.room() {
				return
			}
			r.write(e, depth+1)
		}
		b.WriteByte(']')
	case map[string]any:
		b.WriteByte('{')
		for i, k := range slices.Sorted(maps.Keys(x)) {
			if i > 0 {
				b.WriteString(", ")
			}
			if !r.room() {
				return
			}
			r.str(k)
			b.WriteString(": ")
			if r.bounded && redact.Secret(k) {
				b.WriteString(strRepr(redact.Mask))
				continue
			}
			r.write(x[k], depth+1)
		}
		b.WriteByte('}')
	default:
		fmt.Fprintf(b, "%v", x)
	}
}

// numberRepr follows Python: integers print as written (arbitrary size), floats with repr(float).
func numberRepr(n json.Number) string {
	s := string(n)
	if isIntegerText(s) {
		return strings.TrimPrefix(s, "+")
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		if math.IsInf(f, 0) {
			if f > 0 {
				return "inf"
			}
			return "-inf"
		}
		return s
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e16 {
		return strconv.FormatFloat(f, 'f', 1, 64)
	}
	r := strconv.FormatFloat(f, 'g', -1, 64)
	// Python writes 1e+16 as 1e+16 and 1e-05 as 1e-05: Go agrees except for the exponent's width.
	if i := strings.IndexAny(r, "e"); i >= 0 {
		mant, exp := r[:i], r[i+1:]
		sign := exp[:1]
		digits := strings.TrimLeft(exp[1:], "0")
		if len(digits) < 2 {
			digits = strings.Repeat("0", 2-len(digits)) + digits
		}
		r = mant + "e" + sign + digits
	}
	return r
}

// isIntegerText reports whether a JSON number literal is an integer literal (Python's json gives an int, which
// Draft 4 "integer" accepts; 1.0 becomes a float and is rejected).
func isIntegerText(s string) bool { return !strings.ContainsAny(s, ".eE") }

// strRepr mimics Python 3's str.__repr__.
func strRepr(s string) string {
	quote := byte('\'')
	if strings.ContainsRune(s, '\'') && !strings.ContainsRune(s, '"') {
		quote = '"'
	}
	var b strings.Builder
	b.WriteByte(quote)
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == rune(quote):
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == unicode.ReplacementChar:
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r < 0x80 || unicode.IsPrint(r):
			b.WriteRune(r)
		case r <= 0xff:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
	}
	b.WriteByte(quote)
	return b.String()
}
