package schema

// ConfigurationBody is a validated configuration group body (create, PUT or PATCH).
type ConfigurationBody struct {
	Name        *string
	Description *string
	// Values holds the decoded JSON values by option name (string, bool, json.Number, …): their types are
	// checked against the datastore's parameters by the handler. nil when absent.
	Values    map[string]any
	Datastore DatastoreRef
}

// Configuration body kinds.
const (
	ConfigCreate = iota
	ConfigReplace
	ConfigPatch
)

// ParseConfiguration validates {"configuration": {...}}: create needs name and values; PATCH only values.
func ParseConfiguration(doc any, kind int) (*ConfigurationBody, error) {
	c, e := root(doc, "configuration")
	if e != nil {
		return nil, e
	}
	p := path{"configuration"}
	switch kind {
	case ConfigCreate:
		if e := required(p, c, "name", "values"); e != nil {
			return nil, e
		}
	case ConfigPatch:
		if e := required(p, c, "values"); e != nil {
			return nil, e
		}
	}
	out := &ConfigurationBody{}
	if kind != ConfigPatch {
		for _, k := range []struct {
			key string
			dst **string
		}{{"name", &out.Name}, {"description", &out.Description}} {
			if v, ok := c[k.key]; ok {
				s, e := nes(p.key(k.key), v)
				if e != nil {
					return nil, e
				}
				*k.dst = &s
			}
		}
	}
	if v, ok := c["values"]; ok {
		m, e := object(p.key("values"), v)
		if e != nil {
			return nil, e
		}
		out.Values = m
	}
	if v, ok := c["datastore"]; ok && kind == ConfigCreate {
		dp := p.key("datastore")
		m, e := object(dp, v)
		if e != nil {
			return nil, e
		}
		for _, k := range []struct {
			key string
			dst *string
		}{{"type", &out.Datastore.Type}, {"version", &out.Datastore.Version}, {"version_number", &out.Datastore.VersionNumber}} {
			if x, ok := m[k.key]; ok {
				s, e := nes(dp.key(k.key), x)
				if e != nil {
					return nil, e
				}
				*k.dst = s
			}
		}
	}
	return out, nil
}
