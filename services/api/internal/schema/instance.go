package schema

import (
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Volume is the VOLUME block.
type Volume struct {
	Size int64
	Type *string // nil when absent or null
}

// Database is one DBDEF item.
type Database struct {
	Name         string
	CharacterSet string
	Collate      string
}

// User is one USERS item.
type User struct {
	Name      string
	Password  string
	Host      string // "" when not given (Trove defaults to %)
	Databases []string
}

// Nic is one NICS item.
type Nic struct {
	NetworkID string // net-id or network_id
	SubnetID  string
	IPAddress string
}

// Access is the access block.
type Access struct {
	IsPublic     *bool
	AllowedCIDRs []string
}

// DatastoreRef selects a datastore and version by name or id.
type DatastoreRef struct {
	Type, Version, VersionNumber string
}

// CreateInstance is a validated POST /instances body.
type CreateInstance struct {
	Name             string
	FlavorRef        string // "" when absent; an href is reduced to its last path segment
	HasFlavor        bool
	Volume           *Volume
	Databases        []Database
	Users            []User
	BackupRef        string
	RestoreTime      string // restorePoint.restore_time (ours: point-in-time recovery); format checked by the API
	AvailabilityZone string
	Datastore        DatastoreRef
	Nics             []Nic
	Modules          []string
	RegionName       string
	Locality         string
	Access           *Access
	ReplicaOf        string
	ReplicaCount     int64
	Configuration    string // id or href, as Trove accepts it (not schema-checked)
}

// root checks {"<key>": {...}} and returns the inner object. Trove answers 500 for root-level errors; we
// answer 400 with the same message minus the path.
func root(doc any, key string) (map[string]any, *Error) {
	m, err := object(nil, doc)
	if err != nil {
		return nil, err
	}
	if err := required(nil, m, key); err != nil {
		return nil, err
	}
	return object(path{key}, m[key])
}

// hrefID is Trove's get_id_from_href: the last path segment of a URL or the value itself.
func hrefID(s string) string {
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimRight(s, "/")
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// ParseCreateInstance validates the body of POST /instances.
func ParseCreateInstance(doc any) (*CreateInstance, error) {
	inst, e := root(doc, "instance")
	if e != nil {
		return nil, e
	}
	p := path{"instance"}
	if e := required(p, inst, "name"); e != nil {
		return nil, e
	}
	out := &CreateInstance{}
	var err *Error
	if out.Name, err = nes(p.key("name"), inst["name"]); err != nil {
		return nil, err
	}
	if v, ok := inst["flavorRef"]; ok {
		if out.FlavorRef, err = flavorRef(p.key("flavorRef"), v); err != nil {
			return nil, err
		}
		out.HasFlavor = true
	}
	if v, ok := inst["volume"]; ok {
		if out.Volume, err = volume(p.key("volume"), v); err != nil {
			return nil, err
		}
	}
	if v, ok := inst["databases"]; ok {
		if out.Databases, err = databases(p.key("databases"), v); err != nil {
			return nil, err
		}
	}
	if v, ok := inst["users"]; ok {
		if out.Users, err = users(p.key("users"), v); err != nil {
			return nil, err
		}
	}
	if v, ok := inst["restorePoint"]; ok {
		rp := p.key("restorePoint")
		m, err := object(rp, v)
		if err != nil {
			return nil, err
		}
		if err := required(rp, m, "backupRef"); err != nil {
			return nil, err
		}
		if out.BackupRef, err = uuid(rp.key("backupRef"), m["backupRef"]); err != nil {
			return nil, err
		}
		if v, ok := m["restore_time"]; ok {
			if out.RestoreTime, err = nes(rp.key("restore_time"), v); err != nil {
				return nil, err
			}
		}
	}
	if v, ok := inst["replica_of"]; ok {
		if out.ReplicaOf, err = uuid(p.key("replica_of"), v); err != nil {
			return nil, err
		}
	}
	if v, ok := inst["replica_count"]; ok {
		rp := p.key("replica_count")
		if out.ReplicaCount, err = integer(rp, v); err != nil {
			return nil, err
		}
		if out.ReplicaCount < 1 {
			return nil, fail(rp, "%s is less than the minimum of 1", shown(rp, v))
		}
		if out.ReplicaCount > 3 {
			return nil, fail(rp, "%s is greater than the maximum of 3", shown(rp, v))
		}
	}
	for _, k := range []struct {
		key string
		dst *string
	}{{"availability_zone", &out.AvailabilityZone}, {"region_name", &out.RegionName}, {"locality", &out.Locality}} {
		if v, ok := inst[k.key]; ok {
			if *k.dst, err = nes(p.key(k.key), v); err != nil {
				return nil, err
			}
		}
	}
	if v, ok := inst["datastore"]; ok {
		dp := p.key("datastore")
		m, err := object(dp, v)
		if err != nil {
			return nil, err
		}
		for _, k := range []struct {
			key string
			dst *string
		}{{"type", &out.Datastore.Type}, {"version", &out.Datastore.Version}, {"version_number", &out.Datastore.VersionNumber}} {
			if v, ok := m[k.key]; ok {
				if *k.dst, err = nes(dp.key(k.key), v); err != nil {
					return nil, err
				}
			}
		}
	}
	if v, ok := inst["nics"]; ok {
		if out.Nics, err = nics(p.key("nics"), v); err != nil {
			return nil, err
		}
	}
	if v, ok := inst["modules"]; ok {
		mp := p.key("modules")
		items, err := array(mp, v)
		if err != nil {
			return nil, err
		}
		for i, it := range items {
			ip := mp.idx(i)
			m, err := object(ip, it)
			if err != nil {
				return nil, err
			}
			if err := required(ip, m, "id"); err != nil {
				return nil, err
			}
			id, err := uuid(ip.key("id"), m["id"])
			if err != nil {
				return nil, err
			}
			out.Modules = append(out.Modules, id)
		}
	}
	if v, ok := inst["access"]; ok {
		if out.Access, err = access(p.key("access"), v, false); err != nil {
			return nil, err
		}
	}
	if v, ok := inst["configuration"]; ok && v != nil {
		s, isStr := v.(string)
		if !isStr {
			// Trove does not schema-check this key and then fails on a non-string; a 400 is the honest answer.
			return nil, typeErr(p.key("configuration"), v, "string")
		}
		out.Configuration = hrefID(s)
	}
	return out, nil
}

// flavorRef is FLAVORREF (NES or integer) reduced to a flavor id (an href's last segment).
func flavorRef(p path, v any) (string, *Error) {
	n, ierr := integer(p, v)
	if ierr == nil {
		return strconv.FormatInt(n, 10), nil
	}
	s, serr := nes(p, v)
	if serr != nil {
		return "", notValidUnderAny(p, v, serr, ierr)
	}
	return hrefID(s), nil
}

func volume(p path, v any) (*Volume, *Error) {
	m, err := object(p, v)
	if err != nil {
		return nil, err
	}
	if err := required(p, m, "size"); err != nil {
		return nil, err
	}
	out := &Volume{}
	if out.Size, err = volSize(p.key("size"), m["size"]); err != nil {
		return nil, err
	}
	if t, ok := m["type"]; ok && t != nil {
		s, err := nes(p.key("type"), t)
		if err != nil {
			return nil, notValidUnderAny(p.key("type"), t, err, typeErr(p.key("type"), t, "null"))
		}
		out.Type = &s
	}
	return out, nil
}

func databases(p path, v any) ([]Database, *Error) {
	items, err := array(p, v)
	if err != nil {
		return nil, err
	}
	out := make([]Database, 0, len(items))
	for i, it := range items {
		ip := p.idx(i)
		m, err := object(ip, it)
		if err != nil {
			return nil, err
		}
		if err := required(ip, m, "name"); err != nil {
			return nil, err
		}
		var d Database
		if d.Name, err = nes(ip.key("name"), m["name"]); err != nil {
			return nil, err
		}
		if x, ok := m["character_set"]; ok {
			if d.CharacterSet, err = nes(ip.key("character_set"), x); err != nil {
				return nil, err
			}
		}
		if x, ok := m["collate"]; ok {
			if d.Collate, err = nes(ip.key("collate"), x); err != nil {
				return nil, err
			}
		}
		out = append(out, d)
	}
	return out, nil
}

// dbRefs is DBREF: unique [{name: NES}].
func dbRefs(p path, v any) ([]string, *Error) {
	items, err := array(p, v)
	if err != nil {
		return nil, err
	}
	if err := uniqueItems(p, v, items); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(items))
	for i, it := range items {
		ip := p.idx(i)
		m, err := object(ip, it)
		if err != nil {
			return nil, err
		}
		if err := required(ip, m, "name"); err != nil {
			return nil, err
		}
		n, err := nes(ip.key("name"), m["name"])
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

func users(p path, v any) ([]User, *Error) {
	items, err := array(p, v)
	if err != nil {
		return nil, err
	}
	out := make([]User, 0, len(items))
	for i, it := range items {
		ip := p.idx(i)
		m, err := object(ip, it)
		if err != nil {
			return nil, err
		}
		if err := required(ip, m, "name", "password"); err != nil {
			return nil, err
		}
		var u User
		if u.Name, err = name(ip.key("name"), m["name"]); err != nil {
			return nil, err
		}
		if u.Password, err = nes(ip.key("password"), m["password"]); err != nil {
			return nil, err
		}
		if x, ok := m["host"]; ok {
			if u.Host, err = host(ip.key("host"), x); err != nil {
				return nil, err
			}
		}
		if x, ok := m["databases"]; ok {
			if u.Databases, err = dbRefs(ip.key("databases"), x); err != nil {
				return nil, err
			}
		}
		out = append(out, u)
	}
	return out, nil
}

func nics(p path, v any) ([]Nic, *Error) {
	items, err := array(p, v)
	if err != nil {
		return nil, err
	}
	if len(items) > 1 {
		return nil, fail(p, "%s is too long", shown(p, v))
	}
	out := make([]Nic, 0, len(items))
	for i, it := range items {
		ip := p.idx(i)
		m, err := object(ip, it)
		if err != nil {
			return nil, err
		}
		if err := closed(ip, m, "net-id", "network_id", "subnet_id", "ip_address"); err != nil {
			return nil, err
		}
		var n Nic
		for _, k := range []string{"net-id", "network_id"} {
			if x, ok := m[k]; ok {
				if n.NetworkID, err = uuid(ip.key(k), x); err != nil {
					return nil, err
				}
			}
		}
		if x, ok := m["subnet_id"]; ok {
			if n.SubnetID, err = uuid(ip.key("subnet_id"), x); err != nil {
				return nil, err
			}
		}
		if x, ok := m["ip_address"]; ok {
			if n.IPAddress, err = ipv4(ip.key("ip_address"), x); err != nil {
				return nil, err
			}
		}
		out = append(out, n)
	}
	return out, nil
}

func access(p path, v any, strict bool) (*Access, *Error) {
	m, err := object(p, v)
	if err != nil {
		return nil, err
	}
	if strict {
		if err := closed(p, m, "is_public", "allowed_cidrs"); err != nil {
			return nil, err
		}
	}
	out := &Access{}
	if x, ok := m["is_public"]; ok {
		b, err := boolean(p.key("is_public"), x)
		if err != nil {
			return nil, err
		}
		out.IsPublic = &b
	}
	if x, ok := m["allowed_cidrs"]; ok {
		cp := p.key("allowed_cidrs")
		items, err := array(cp, x)
		if err != nil {
			return nil, err
		}
		if err := uniqueItems(cp, x, items); err != nil {
			return nil, err
		}
		out.AllowedCIDRs = make([]string, 0, len(items))
		for i, it := range items {
			c, err := cidr(cp.idx(i), it)
			if err != nil {
				return nil, err
			}
			out.AllowedCIDRs = append(out.AllowedCIDRs, c)
		}
	}
	return out, nil
}

// UpdateInstance is a validated PUT or PATCH /instances/{id} body.
type UpdateInstance struct {
	Name             *string
	DetachReplica    bool // replica_of or slave_of present (any value)
	HasConfiguration bool
	Configuration    *string // nil = detach
	DatastoreVersion string
	Access           *Access
	// Others counts the attributes besides name (Trove allows at most one).
	Others int
}

// ParseUpdateInstance validates PUT (patch=false) or PATCH (patch=true) bodies.
func ParseUpdateInstance(doc any, patch bool) (*UpdateInstance, error) {
	inst, e := root(doc, "instance")
	if e != nil {
		return nil, e
	}
	p := path{"instance"}
	allowed := []string{"name", "replica_of", "configuration", "datastore_version", "access"}
	if patch {
		allowed = []string{"slave_of", "replica_of", "name", "configuration", "datastore_version"}
	}
	if err := closed(p, inst, allowed...); err != nil {
		return nil, err
	}
	out := &UpdateInstance{}
	if v, ok := inst["name"]; ok {
		n, err := nes(p.key("name"), v)
		if err != nil {
			return nil, err
		}
		out.Name = &n
	}
	_, r := inst["replica_of"]
	_, s := inst["slave_of"]
	out.DetachReplica = r || s
	if r {
		out.Others++
	}
	if s {
		out.Others++
	}
	if v, ok := inst["configuration"]; ok {
		out.HasConfiguration = true
		out.Others++
		if v != nil {
			id, err := uuid(p.key("configuration"), v)
			if err != nil {
				return nil, notValidUnderAny(p.key("configuration"), v, err, typeErr(p.key("configuration"), v, "null"))
			}
			out.Configuration = &id
		}
	}
	if v, ok := inst["datastore_version"]; ok {
		dv, err := nes(p.key("datastore_version"), v)
		if err != nil {
			return nil, err
		}
		out.DatastoreVersion = dv
		out.Others++
	}
	if v, ok := inst["access"]; ok {
		a, err := access(p.key("access"), v, true)
		if err != nil {
			return nil, err
		}
		out.Access = a
		out.Others++
	}
	return out, nil
}

// QuotaUpdate is a validated PUT /mgmt/quotas/{project} body: resource → new hard limit (nulls dropped).
type QuotaUpdate struct {
	Limits map[string]int64
	Order  []string // resources in a stable order
}

// ParseQuotaUpdate validates {"quotas": {"instances": 20, ...}}. Resource names are checked by the handler
// (unknown → 404, as Trove's QuotaResourceUnknown); values must be integers ≥ -1.
func ParseQuotaUpdate(doc any) (*QuotaUpdate, error) {
	q, e := root(doc, "quotas")
	if e != nil {
		return nil, e
	}
	p := path{"quotas"}
	out := &QuotaUpdate{Limits: map[string]int64{}}
	for _, k := range slices.Sorted(maps.Keys(q)) {
		v := q[k]
		if strings.Contains(k, "xmlns") || v == nil {
			continue
		}
		n, err := integer(p.key(k), v)
		if err != nil {
			return nil, err
		}
		if n < -1 {
			return nil, fail(p.key(k), "%s is less than the minimum of -1", shown(p.key(k), v))
		}
		out.Limits[k] = n
		out.Order = append(out.Order, k)
	}
	return out, nil
}
