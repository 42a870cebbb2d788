package api

import (
	"math"
	"math/big"
	"strconv"
	"strings"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/services/api/internal/fault"
)

// intRange is Trove's min/max check of an integer value: int(rule.min_size), int(rule.max_size), compared
// exactly (Python ints have no size limit, so 18446744073709551615 passes a rule allowing it). A bound that
// is not an integer is not checked here (Trove fails with a 500).
func intRange(key string, p *catalog.ConfigParam, n *big.Int) error {
	if min, ok := new(big.Int).SetString(strings.TrimSpace(p.MinSize), 10); ok && n.Cmp(min) < 0 {
		return fault.Unprocessable("The value for the configuration parameter %s is less than the minimum allowed: %s", shown(key), min)
	}
	if max, ok := new(big.Int).SetString(strings.TrimSpace(p.MaxSize), 10); ok && n.Cmp(max) > 0 {
		return fault.Unprocessable("The value for the configuration parameter %s is greater than the maximum allowed: %s", shown(key), max)
	}
	return nil
}

// floatRange is Trove's min/max check of a float value: float(rule.min_size), shown as Python prints a float.
func floatRange(key string, p *catalog.ConfigParam, f float64) error {
	if min, err := strconv.ParseFloat(strings.TrimSpace(p.MinSize), 64); err == nil && f < min {
		return fault.Unprocessable("The value for the configuration parameter %s is less than the minimum allowed: %s", shown(key), pyFloat(min))
	}
	if max, err := strconv.ParseFloat(strings.TrimSpace(p.MaxSize), 64); err == nil && f > max {
		return fault.Unprocessable("The value for the configuration parameter %s is greater than the maximum allowed: %s", shown(key), pyFloat(max))
	}
	return nil
}

// pyFloat formats f as Python's str(float): the shortest round-trip digits, positional with at least one
// decimal between 1e-4 and 1e16, else exponent form (1e+16, 1.5e-05).
func pyFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	if a := math.Abs(f); a != 0 && (a < 1e-4 || a >= 1e16) {
		s := strconv.FormatFloat(f, 'e', -1, 64) // 1e+16, 1.5e-05: as Python
		return s
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}
