// Package redact keeps secrets and unbounded input out of error messages and log lines: Secret tells whether a
// field is named like a secret (its value is never echoed), Trunc bounds an echoed value.
package redact

import (
	"strings"
	"unicode/utf8"
)

// Mask is what is shown instead of a secret's value.
const Mask = "***"

// Echo is the number of characters of a value that messages repeat (Trunc's usual n).
const Echo = 64

// Ellipsis marks a truncated value.
const Ellipsis = "…"

// Secret reports whether a field (JSON key, log field, option) is named like a secret: password,
// root_password, passwd, *_key, key, token, secret, credential(s) — case-insensitively.
func Secret(name string) bool {
	n := strings.ToLower(name)
	for _, s := range []string{"password", "passwd", "secret", "token", "credential"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return n == "key" || strings.HasSuffix(n, "_key") || strings.HasSuffix(n, "-key")
}

// Trunc returns s cut to its first n characters followed by an ellipsis when it is longer (never splitting a
// character; invalid UTF-8 counts one byte per character).
func Trunc(s string, n int) string {
	if len(s) <= n { // at most n bytes is at most n characters
		return s
	}
	i := 0
	for count := 0; i < len(s); count++ {
		if count == n {
			return s[:i] + Ellipsis
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return s
}
