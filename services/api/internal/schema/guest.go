package schema

// ParseCreateDatabases validates {"databases": DBDEF} (POST /instances/{id}/databases).
func ParseCreateDatabases(doc any) ([]Database, error) {
	return nonEmptyList(doc, "databases", databases)
}

// ParseCreateUsers validates {"users": USERS} (POST /instances/{id}/users).
func ParseCreateUsers(doc any) ([]User, error) { return nonEmptyList(doc, "users", users) }

// nonEmptyList validates {"<key>": [items]} with at least one item.
func nonEmptyList[T any](doc any, key string, parse func(path, any) ([]T, *Error)) ([]T, error) {
	m, e := object(nil, doc)
	if e != nil {
		return nil, e
	}
	if e := required(nil, m, key); e != nil {
		return nil, e
	}
	items, e := parse(path{key}, m[key])
	if e != nil {
		return nil, e
	}
	if len(items) == 0 {
		return nil, fail(path{key}, "[] is too short")
	}
	return items, nil
}

// ParseRootEnable reads the optional {"password": "..."} of POST /root ("" = generate one).
func ParseRootEnable(doc any) (string, error) {
	m, e := object(nil, doc)
	if e != nil {
		return "", e
	}
	v, ok := m["password"]
	if !ok || v == nil {
		return "", nil
	}
	pw, e := nes(path{"password"}, v)
	if e != nil {
		return "", e
	}
	return pw, nil
}
