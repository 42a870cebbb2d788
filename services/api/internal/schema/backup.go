package schema

import "encoding/json"

// BackupBody is a validated POST /backups body (Trove's apischema backup).
type BackupBody struct {
	Name           string
	Description    *string
	Instance       string // "" only with RestoreFrom
	ParentID       string
	Incremental    bool
	SwiftContainer string
	StorageDriver  string
	RestoreFrom    *RestoreFrom
}

// RestoreFrom is restore_from: register an existing object as a backup.
type RestoreFrom struct {
	RemoteLocation          string
	LocalDatastoreVersionID string
	Size                    float64
}

// ParseBackup validates {"backup": {...}}: name is required; instance is checked by the handler (Trove's
// "instance is missing." comes from the API, not the schema).
func ParseBackup(doc any) (*BackupBody, error) {
	b, e := root(doc, "backup")
	if e != nil {
		return nil, e
	}
	p := path{"backup"}
	if e := required(p, b, "name"); e != nil {
		return nil, e
	}
	out := &BackupBody{}
	var err *Error
	if out.Name, err = nes(p.key("name"), b["name"]); err != nil {
		return nil, err
	}
	if v, ok := b["description"]; ok {
		s, e := nes(p.key("description"), v)
		if e != nil {
			return nil, e
		}
		out.Description = &s
	}
	for _, k := range []struct {
		key string
		dst *string
	}{{"instance", &out.Instance}, {"parent_id", &out.ParentID}} {
		if v, ok := b[k.key]; ok {
			s, e := uuid(p.key(k.key), v)
			if e != nil {
				return nil, e
			}
			*k.dst = s
		}
	}
	if v, ok := b["incremental"]; ok {
		n, e := integer(p.key("incremental"), v)
		if e != nil {
			return nil, e
		}
		if n < 0 || n > 1 {
			return nil, fail(p.key("incremental"), "%s is not one of [0, 1]", shown(p.key("incremental"), v))
		}
		out.Incremental = n == 1
	}
	for _, k := range []struct {
		key string
		dst *string
	}{{"swift_container", &out.SwiftContainer}, {"storage_driver", &out.StorageDriver}} {
		if v, ok := b[k.key]; ok {
			s, e := nes(p.key(k.key), v)
			if e != nil {
				return nil, e
			}
			*k.dst = s
		}
	}
	if v, ok := b["restore_from"]; ok {
		rp := p.key("restore_from")
		m, e := object(rp, v)
		if e != nil {
			return nil, e
		}
		if e := required(rp, m, "remote_location", "local_datastore_version_id", "size"); e != nil {
			return nil, e
		}
		rf := &RestoreFrom{}
		if rf.RemoteLocation, e = nes(rp.key("remote_location"), m["remote_location"]); e != nil {
			return nil, e
		}
		if rf.LocalDatastoreVersionID, e = uuid(rp.key("local_datastore_version_id"), m["local_datastore_version_id"]); e != nil {
			return nil, e
		}
		if rf.Size, e = number(rp.key("size"), m["size"]); e != nil {
			return nil, e
		}
		out.RestoreFrom = rf
	}
	return out, nil
}

// BackupStrategyBody is a validated POST /backup_strategies body.
type BackupStrategyBody struct {
	InstanceID     string
	SwiftContainer string
}

// ParseBackupStrategy validates {"backup_strategy": {"instance_id"?, "swift_container"}} (no other keys).
func ParseBackupStrategy(doc any) (*BackupStrategyBody, error) {
	b, e := root(doc, "backup_strategy")
	if e != nil {
		return nil, e
	}
	p := path{"backup_strategy"}
	if e := required(p, b, "swift_container"); e != nil {
		return nil, e
	}
	if e := closed(p, b, "instance_id", "swift_container"); e != nil {
		return nil, e
	}
	out := &BackupStrategyBody{}
	var err *Error
	if out.SwiftContainer, err = nes(p.key("swift_container"), b["swift_container"]); err != nil {
		return nil, err
	}
	if v, ok := b["instance_id"]; ok {
		if out.InstanceID, err = uuid(p.key("instance_id"), v); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// number is a Draft 4 number (integer or float literal, not a bool or string).
func number(p path, v any) (float64, *Error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, typeErr(p, v, "number")
	}
	f, err := n.Float64()
	if err != nil {
		return 0, typeErr(p, v, "number")
	}
	return f, nil
}
