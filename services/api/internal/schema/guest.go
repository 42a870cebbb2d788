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

// UserUpdate is PUT /users/{user}: the attributes to change (at least one).
type UserUpdate struct {
	Name, Password, Host *string
}

// ParseUserUpdate validates {"user": {"name"?: NAME, "password"?: NES, "host"?: HOST}}.
func ParseUserUpdate(doc any) (*UserUpdate, error) {
	u, e := root(doc, "user")
	if e != nil {
		return nil, e
	}
	p := path{"user"}
	if e := closed(p, u, "name", "password", "host"); e != nil {
		return nil, e
	}
	if len(u) == 0 {
		return nil, fail(p, "{} does not have enough properties")
	}
	out := &UserUpdate{}
	if v, ok := u["name"]; ok {
		s, e := name(p.key("name"), v)
		if e != nil {
			return nil, e
		}
		out.Name = &s
	}
	if v, ok := u["password"]; ok {
		s, e := nes(p.key("password"), v)
		if e != nil {
			return nil, e
		}
		out.Password = &s
	}
	if v, ok := u["host"]; ok {
		s, e := host(p.key("host"), v)
		if e != nil {
			return nil, e
		}
		out.Host = &s
	}
	return out, nil
}

// ParseChangePasswords validates PUT /users: {"users": [{"name": NAME, "password": NES, "host"?: HOST}]}.
func ParseChangePasswords(doc any) ([]User, error) { return nonEmptyList(doc, "users", users) }

// ParseGrantAccess validates PUT /users/{user}/databases: {"databases": [{"name": NES}]} (unique).
func ParseGrantAccess(doc any) ([]string, error) { return nonEmptyList(doc, "databases", dbRefs) }
