package manage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strconv"
	"strings"

	"github.com/trove-go/trove/pkg/catalog"
)

// ParamTypes are the data types a configuration parameter can have (datastore_configuration_parameters.data_type).
var ParamTypes = []string{"boolean", "string", "integer", "float"}

// ParseValidationRules reads Trove's validation-rules.json:
//
//	{"configuration-parameters": [{"name": ..., "restart_required": bool, "type": "integer", "max": n, "min": n}, ...]}
//
// Like Trove, "name", "restart_required" and "type" are required and "max"/"min" are optional (null or absent: no
// bound); numbers are kept as Python's str() would store them. Unlike Trove, a file it would load into a catalog
// the API cannot use is an error: an unknown type, a bound that is not a number (or not an integer for an integer
// parameter), min > max, or the same name twice (names are matched case-insensitively by the API).
func ParseValidationRules(raw []byte) ([]catalog.ConfigParam, error) {
	var doc struct {
		Params *[]json.RawMessage `json:"configuration-parameters"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	if doc.Params == nil {
		return nil, errors.New(`no "configuration-parameters" list`)
	}
	out := make([]catalog.ConfigParam, 0, len(*doc.Params))
	seen := make(map[string]int, len(*doc.Params))
	for i, entry := range *doc.Params {
		p, err := parseRule(entry)
		where := fmt.Sprintf("configuration-parameters[%d]", i)
		if p.Name != "" {
			where += fmt.Sprintf(" (%s)", p.Name)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if j, dup := seen[strings.ToLower(p.Name)]; dup {
			return nil, fmt.Errorf("%s: the name is also configuration-parameters[%d]", where, j)
		}
		seen[strings.ToLower(p.Name)] = i
		out = append(out, p)
	}
	return out, nil
}

func parseRule(entry json.RawMessage) (catalog.ConfigParam, error) {
	var r struct {
		Name            *string          `json:"name"`
		RestartRequired *json.RawMessage `json:"restart_required"`
		Type            *string          `json:"type"`
		Max             *json.Number     `json:"max"`
		Min             *json.Number     `json:"min"`
	}
	var p catalog.ConfigParam
	dec := json.NewDecoder(bytes.NewReader(entry))
	dec.UseNumber()
	if err := dec.Decode(&r); err != nil {
		return p, err
	}
	if r.Name == nil || strings.TrimSpace(*r.Name) == "" {
		return p, errors.New(`"name" is missing or empty`)
	}
	p.Name = *r.Name
	if len(p.Name) > 128 {
		return p, errors.New("the name is longer than 128 characters")
	}
	if r.RestartRequired == nil {
		return p, errors.New(`"restart_required" is missing`)
	}
	switch strings.TrimSpace(string(*r.RestartRequired)) {
	case "true", "1":
		p.RestartRequired = true
	case "false", "0":
	default:
		return p, fmt.Errorf(`"restart_required" is %s, not true or false`, *r.RestartRequired)
	}
	if r.Type == nil {
		return p, errors.New(`"type" is missing`)
	}
	p.DataType = *r.Type
	known := false
	for _, t := range ParamTypes {
		known = known || p.DataType == t
	}
	if !known {
		return p, fmt.Errorf("type %q is not one of %s", p.DataType, strings.Join(ParamTypes, ", "))
	}
	var bounds [2]*big.Rat
	for i, b := range []struct {
		key string
		n   *json.Number
		out *string
	}{{"max", r.Max, &p.MaxSize}, {"min", r.Min, &p.MinSize}} {
		if b.n == nil {
			continue
		}
		v, ok := new(big.Rat).SetString(b.n.String())
		if !ok {
			return p, fmt.Errorf("%s %q is not a number", b.key, b.n.String())
		}
		if p.DataType == "integer" && (!v.IsInt() || strings.ContainsAny(b.n.String(), ".eE")) {
			return p, fmt.Errorf("%s %s of an integer parameter is not an integer", b.key, b.n.String())
		}
		bounds[i] = v
		*b.out = pythonNumber(*b.n)
		if len(*b.out) > 40 {
			return p, fmt.Errorf("%s %s is longer than 40 characters", b.key, *b.out)
		}
	}
	if bounds[0] != nil && bounds[1] != nil && bounds[1].Cmp(bounds[0]) > 0 {
		return p, fmt.Errorf("min %s is greater than max %s", p.MinSize, p.MaxSize)
	}
	return p, nil
}

// LoadValidationRules is db_load_datastore_config_parameters: it reads the rules file and creates or updates
// each of its parameters for the datastore version (name or id; an inactive version too; number disambiguates
// versions of the same name), all in one transaction. Like Trove, parameters of the version that are not in the
// file are kept (db_remove_datastore_config_parameters removes them all). Loading the same file again changes
// nothing. It returns how many parameters the file has.
func LoadValidationRules(ctx context.Context, d *catalog.DB, datastore, version, number, path string) (int, error) {
	_, v, err := d.FindVersionNumber(ctx, datastore, version, number)
	if err != nil {
		return 0, err
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	params, err := ParseValidationRules(raw)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return len(params), d.UpsertConfigParams(ctx, v.ID, params)
}

// pythonNumber renders a JSON number as Python's str() would (ints verbatim, floats with a ".0" when integral),
// which is what Trove stores in the VARCHAR max_size/min_size columns.
func pythonNumber(n json.Number) string {
	s := n.String()
	if s == "" || !strings.ContainsAny(s, ".eE") {
		return s
	}
	f, err := n.Float64()
	if err != nil {
		return s
	}
	out := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(out, ".") {
		out += ".0"
	}
	return out
}
