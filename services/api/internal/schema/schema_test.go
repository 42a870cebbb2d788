package schema

import (
	"strings"
	"testing"
)

func mustDecode(t *testing.T, s string) any {
	t.Helper()
	v, err := Decode([]byte(s))
	if err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return v
}

func TestParseCreateInstanceErrors(t *testing.T) {
	cases := []struct {
		body, msg string
	}{
		{`[]`, `Validation error: [] is not of type 'object'`},
		{`{}`, `Validation error: 'instance' is a required property`},
		{`{"instance": 1}`, `Validation error: instance 1 is not of type 'object'`},
		{`{"instance": {}}`, `Validation error: instance 'name' is a required property`},
		{`{"instance": {"name": "!!"}}`, `Validation error: instance['name'] '!!' does not match '^.*[0-9a-zA-Z]+.*$'`},
		{`{"instance": {"name": ""}}`, `Validation error: instance['name'] '' is too short`},
		{`{"instance": {"name": "a\nb"}}`, `Validation error: instance['name'] 'a\nb' does not match '^.*[0-9a-zA-Z]+.*$'`},
		{`{"instance": {"name": "` + strings.Repeat("é", 256) + `"}}`, `is too long`},
		{`{"instance": {"name": 5}}`, `Validation error: instance['name'] 5 is not of type 'string'`},
		{`{"instance": {"name": "db", "flavorRef": true}}`, `Validation error: instance['flavorRef'] True is not valid under any of the given schemas; True is not of type 'string'; True is not of type 'integer'`},
		{`{"instance": {"name": "db", "flavorRef": 1.5}}`, `1.5 is not valid under any of the given schemas`},
		{`{"instance": {"name": "db", "volume": {}}}`, `Validation error: instance['volume'] 'size' is a required property`},
		{`{"instance": {"name": "db", "volume": {"size": 0}}}`, `Validation error: instance['volume']['size'] 0 is not valid under any of the given schemas; 0 is less than the minimum of 1; 0 is not of type 'string'`},
		{`{"instance": {"name": "db", "volume": {"size": -3}}}`, `-3 is not valid under any of the given schemas`},
		{`{"instance": {"name": "db", "volume": {"size": "000"}}}`, `'000' is not valid under any of the given schemas`},
		{`{"instance": {"name": "db", "volume": {"size": 1.0}}}`, `1.0 is not valid under any of the given schemas`},
		{`{"instance": {"name": "db", "volume": {"size": null}}}`, `None is not valid under any of the given schemas`},
		{`{"instance": {"name": "db", "databases": [{"name": "x", "collate": "--"}]}}`, `Validation error: instance['databases'][0]['collate'] '--' does not match`},
		{`{"instance": {"name": "db", "users": [{"name": "u"}]}}`, `Validation error: instance['users'][0] 'password' is a required property`},
		{`{"instance": {"name": "db", "users": [{"name": "u", "password": "p", "host": "a b"}]}}`, `instance['users'][0]['host'] 'a b' does not match '^[%]?[\\w(-).]*[%]?$'`},
		{`{"instance": {"name": "db", "users": [{"name": "u", "password": "p", "databases": [{"name": "a"}, {"name": "a"}]}]}}`, `has non-unique elements`},
		{`{"instance": {"name": "db", "nics": [{}, {}]}}`, `Validation error: instance['nics'] [{}, {}] is too long`},
		{`{"instance": {"name": "db", "nics": [{"foo": 1}]}}`, `Validation error: instance['nics'][0] Additional properties are not allowed ('foo' was unexpected)`},
		{`{"instance": {"name": "db", "nics": [{"net-id": "nope"}]}}`, `instance['nics'][0]['net-id'] 'nope' does not match '^([0-9a-fA-F]){8}-`},
		{`{"instance": {"name": "db", "nics": [{"ip_address": "1.2.3"}]}}`, `'1.2.3' is too short`},
		{`{"instance": {"name": "db", "nics": [{"ip_address": "1.2.3.4444"}]}}`, `does not match`},
		{`{"instance": {"name": "db", "replica_count": 4}}`, `Validation error: instance['replica_count'] 4 is greater than the maximum of 3`},
		{`{"instance": {"name": "db", "restorePoint": {}}}`, `instance['restorePoint'] 'backupRef' is a required property`},
		{`{"instance": {"name": "db", "modules": [{"id": "x"}]}}`, `instance['modules'][0]['id'] 'x' does not match`},
		{`{"instance": {"name": "db", "access": {"is_public": 1}}}`, `instance['access']['is_public'] 1 is not of type 'boolean'`},
		{`{"instance": {"name": "db", "access": {"allowed_cidrs": ["10.0.0.0/33"]}}}`, `instance['access']['allowed_cidrs'][0] '10.0.0.0/33' does not match`},
		{`{"instance": {"name": "db", "datastore": {"type": ""}}}`, `instance['datastore']['type'] '' is too short`},
		{`{"instance": {"name": "it's"}, "x": 1}`, ``}, // valid: extra root keys allowed, NES accepts it
	}
	for _, c := range cases {
		_, err := ParseCreateInstance(mustDecode(t, c.body))
		if c.msg == "" {
			if err != nil {
				t.Errorf("%s: unexpected error %v", c.body, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: want error containing %q, got none", c.body, c.msg)
			continue
		}
		if !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s:\n got %q\nwant %q", c.body, err.Error(), c.msg)
		}
	}
}

func TestParseCreateInstanceValues(t *testing.T) {
	v, err := ParseCreateInstance(mustDecode(t, `{"instance": {"name": "db1\n", "flavorRef": "https://h/v1.0/t/flavors/7",
		"volume": {"size": "0012", "type": null}, "databases": [{"name": "app"}],
		"users": [{"name": "u", "password": "p", "host": "%", "databases": [{"name": "app"}]}],
		"nics": [{"net-id": "a5330d7d-0e8c-48b4-9f6c-0f2c4ab1b854", "ip_address": "10.0.0.1"}],
		"datastore": {"type": "mysql", "version": "8.0"}, "access": {"is_public": false, "allowed_cidrs": ["10.0.0.0/8"]},
		"configuration": "c1a0f0e6-2d51-4a66-9b62-3e4f7c1d2e3f"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if v.Name != "db1\n" || v.FlavorRef != "7" || !v.HasFlavor || v.Volume.Size != 12 || v.Volume.Type != nil {
		t.Errorf("basic fields: %+v %+v", v, v.Volume)
	}
	if len(v.Users) != 1 || v.Users[0].Host != "%" || v.Users[0].Databases[0] != "app" || v.Nics[0].NetworkID == "" {
		t.Errorf("users/nics: %+v %+v", v.Users, v.Nics)
	}
	if v.Datastore.Type != "mysql" || *v.Access.IsPublic || v.Access.AllowedCIDRs[0] != "10.0.0.0/8" || v.Configuration == "" {
		t.Errorf("datastore/access: %+v", v)
	}
	n, err := ParseCreateInstance(mustDecode(t, `{"instance": {"name": "x", "flavorRef": 2}}`))
	if err != nil || n.FlavorRef != "2" {
		t.Errorf("integer flavorRef: %+v %v", n, err)
	}
}

func TestParseUpdateInstance(t *testing.T) {
	cases := []struct {
		body   string
		patch  bool
		msg    string
		others int
	}{
		{`{"instance": {"name": "new"}}`, false, "", 0},
		{`{"instance": {}}`, false, "", 0},
		{`{"instance": {"replica_of": null, "name": "x"}}`, false, "", 1},
		{`{"instance": {"slave_of": null}}`, true, "", 1},
		{`{"instance": {"slave_of": null}}`, false, `Additional properties are not allowed ('slave_of' was unexpected)`, 0},
		{`{"instance": {"access": {"is_public": true}}}`, true, `('access' was unexpected)`, 0},
		{`{"instance": {"access": {"is_public": true, "x": 1}}}`, false, `instance['access'] Additional properties`, 0},
		{`{"instance": {"configuration": "bad"}}`, false, `instance['configuration'] 'bad' is not valid under any of the given schemas`, 0},
		{`{"instance": {"configuration": null, "datastore_version": "8.0"}}`, false, "", 2},
		{`{"instance": {"a": 1, "b": 2}}`, false, `('a', 'b' were unexpected)`, 0},
	}
	for _, c := range cases {
		u, err := ParseUpdateInstance(mustDecode(t, c.body), c.patch)
		if c.msg != "" {
			if err == nil || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("%s: got %v, want %q", c.body, err, c.msg)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.body, err)
			continue
		}
		if u.Others != c.others {
			t.Errorf("%s: others = %d, want %d", c.body, u.Others, c.others)
		}
	}
}

func TestParseQuotaUpdate(t *testing.T) {
	q, err := ParseQuotaUpdate(mustDecode(t, `{"quotas": {"instances": 20, "volumes": null, "xmlns": "x", "ram": -1}}`))
	if err != nil || len(q.Limits) != 2 || q.Limits["instances"] != 20 || q.Limits["ram"] != -1 {
		t.Fatalf("got %+v %v", q, err)
	}
	for body, msg := range map[string]string{
		`{"quotas": {"instances": -2}}`:  `quotas['instances'] -2 is less than the minimum of -1`,
		`{"quotas": {"instances": "5"}}`: `quotas['instances'] '5' is not of type 'integer'`,
		`{"quotas": []}`:                 `quotas [] is not of type 'object'`,
		`{}`:                             `'quotas' is a required property`,
	} {
		if _, err := ParseQuotaUpdate(mustDecode(t, body)); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: got %v, want %q", body, err, msg)
		}
	}
}

func TestDecode(t *testing.T) {
	for _, bad := range []string{``, `{`, `{"a":1}x`, `{"a":1} {}`, `NaN`, `{'a': 1}`} {
		if _, err := Decode([]byte(bad)); err == nil {
			t.Errorf("%q decoded without error", bad)
		}
	}
}

func TestRepr(t *testing.T) {
	cases := map[string]string{
		`"it's"`:                      `"it's"`,
		`"a'b\"c"`:                    `'a\'b"c'`,
		`"\u0000é"`:                   `'\x00é'`,
		`1e3`:                         `1000.0`,
		`1e20`:                        `1e+20`,
		`12345678901234567890123`:     `12345678901234567890123`,
		`{"b": [true, null], "a": 1}`: `{'a': 1, 'b': [True, None]}`,
	}
	for in, want := range cases {
		if got := repr(mustDecode(t, in)); got != want {
			t.Errorf("repr(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestPatterns(t *testing.T) {
	for s, want := range map[string]bool{"a": true, "!a!": true, "a\n": true, "\na": false, "a\n\n": false, "é": false, "": false} {
		if matchesNES(s) != want {
			t.Errorf("matchesNES(%q) != %v", s, want)
		}
	}
	for s, want := range map[string]bool{"a5330d7d-0e8c-48b4-9f6c-0f2c4ab1b854": true, "A5330D7D-0E8C-48B4-9F6C-0F2C4AB1B854\n": true,
		"a5330d7d0e8c-48b4-9f6c-0f2c4ab1b854x": false, "g5330d7d-0e8c-48b4-9f6c-0f2c4ab1b854": false} {
		if IsUUID(s) != want {
			t.Errorf("IsUUID(%q) != %v", s, want)
		}
	}
}

func TestParseInstanceAction(t *testing.T) {
	cases := []struct {
		body, kind, msg string
		size            int64
		flavor          string
	}{
		{`{"restart": {}}`, ActionRestart, "", 0, ""},
		{`{"restart": 1}`, "", `Validation error: restart 1 is not of type 'object'`, 0, ""},
		{`{"resize": {"volume": {"size": 5}}}`, ActionResizeVolume, "", 5, ""},
		{`{"resize": {"volume": {"size": "7"}}}`, ActionResizeVolume, "", 7, ""},
		{`{"resize": {"volume": {"size": 0}}}`, "", `resize['volume']['size'] 0 is not valid under any of the given schemas`, 0, ""},
		{`{"resize": {"volume": {}}}`, "", `resize['volume'] 'size' is a required property`, 0, ""},
		{`{"resize": {"flavorRef": 2}}`, ActionResizeFlavor, "", 0, "2"},
		{`{"resize": {"flavorRef": "http://h/flavors/3"}}`, ActionResizeFlavor, "", 0, "3"},
		{`{"resize": {"flavorRef": "1", "volume": {"size": 1}}}`, "", "at the same time", 0, ""},
		{`{"resize": {}}`, "", "is not valid under any of the given schemas", 0, ""},
		{`{"reset_status": {"force_delete": true}}`, ActionResetStatus, "", 0, ""},
		{`{"stop": {}}`, "", "Invalid instance action: stop", 0, ""},
		{`{"restart": {}, "reset_status": {}}`, "", "should have exactly one action", 0, ""},
		{`{}`, "", "should have exactly one action", 0, ""},
	}
	for _, c := range cases {
		a, err := ParseInstanceAction(mustDecode(t, c.body))
		if c.msg != "" {
			if err == nil || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("%s: got %v, want %q", c.body, err, c.msg)
			}
			continue
		}
		if err != nil || a.Kind != c.kind || a.VolumeSize != c.size || a.FlavorRef != c.flavor {
			t.Errorf("%s: got %+v %v", c.body, a, err)
		}
	}
}

func TestParseGuestBodies(t *testing.T) {
	if dbs, err := ParseCreateDatabases(mustDecode(t, `{"databases": [{"name": "a", "character_set": "utf8"}]}`)); err != nil || dbs[0].CharacterSet != "utf8" {
		t.Errorf("databases: %+v %v", dbs, err)
	}
	for body, msg := range map[string]string{
		`{"databases": []}`:             `databases [] is too short`,
		`{}`:                            `'databases' is a required property`,
		`{"databases": [{"name": ""}]}`: `databases[0]['name'] '' is too short`,
	} {
		if _, err := ParseCreateDatabases(mustDecode(t, body)); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: %v", body, err)
		}
	}
	if us, err := ParseCreateUsers(mustDecode(t, `{"users": [{"name": "u", "password": "p", "host": "a b"}]}`)); err == nil {
		t.Errorf("host a b accepted: %+v", us)
	}
	if us, err := ParseCreateUsers(mustDecode(t, `{"users": [{"name": "u", "password": "p", "host": "%"}]}`)); err != nil || us[0].Host != "%" {
		t.Errorf("users: %+v %v", us, err)
	}
	if pw, err := ParseRootEnable(mustDecode(t, `{}`)); err != nil || pw != "" {
		t.Errorf("root: %q %v", pw, err)
	}
	if _, err := ParseRootEnable(mustDecode(t, `{"password": 5}`)); err == nil {
		t.Errorf("root password 5 accepted")
	}
}

// Successful parses must return a nil error interface (not a typed nil *Error).
func TestNilErrors(t *testing.T) {
	if _, err := ParseRootEnable(mustDecode(t, `{"password": "ok1"}`)); err != nil {
		t.Errorf("ParseRootEnable: %v", err)
	}
	if _, err := ParseCreateDatabases(mustDecode(t, `{"databases": [{"name": "a"}]}`)); err != nil {
		t.Errorf("ParseCreateDatabases: %v", err)
	}
	if _, err := ParseCreateUsers(mustDecode(t, `{"users": [{"name": "a", "password": "b"}]}`)); err != nil {
		t.Errorf("ParseCreateUsers: %v", err)
	}
	if _, err := ParseInstanceAction(mustDecode(t, `{"restart": {}}`)); err != nil {
		t.Errorf("ParseInstanceAction: %v", err)
	}
}

func TestParseUserBodies(t *testing.T) {
	u, err := ParseUserUpdate(mustDecode(t, `{"user": {"name": "new", "host": "%"}}`))
	if err != nil || *u.Name != "new" || *u.Host != "%" || u.Password != nil {
		t.Errorf("user update: %+v %v", u, err)
	}
	for body, msg := range map[string]string{
		`{"user": {}}`:               `user {} does not have enough properties`,
		`{"user": {"x": 1}}`:         `('x' was unexpected)`,
		`{"user": {"password": ""}}`: `user['password'] '***' is too short`, // a password is never echoed
		`{"users": []}`:              `'user' is a required property`,
	} {
		if _, err := ParseUserUpdate(mustDecode(t, body)); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: %v", body, err)
		}
	}
	if dbs, err := ParseGrantAccess(mustDecode(t, `{"databases": [{"name": "a"}, {"name": "b"}]}`)); err != nil || len(dbs) != 2 {
		t.Errorf("grant: %v %v", dbs, err)
	}
	if _, err := ParseGrantAccess(mustDecode(t, `{"databases": [{"name": "a"}, {"name": "a"}]}`)); err == nil {
		t.Errorf("duplicate grant accepted")
	}
	if us, err := ParseChangePasswords(mustDecode(t, `{"users": [{"name": "a", "password": "b"}]}`)); err != nil || us[0].Password != "b" {
		t.Errorf("change passwords: %v %v", us, err)
	}
}

func TestParseConfiguration(t *testing.T) {
	c, err := ParseConfiguration(mustDecode(t, `{"configuration": {"name": "g", "values": {"max_connections": 200}, "datastore": {"type": "mysql"}}}`), ConfigCreate)
	if err != nil || *c.Name != "g" || c.Values["max_connections"] == nil || c.Datastore.Type != "mysql" {
		t.Fatalf("create: %+v %v", c, err)
	}
	for body, msg := range map[string]string{
		`{"configuration": {"name": "g"}}`:               `configuration 'values' is a required property`,
		`{"configuration": {"values": {}}}`:              `configuration 'name' is a required property`,
		`{"configuration": {"name": "g", "values": []}}`: `configuration['values'] [] is not of type 'object'`,
		`{"configuration": {"name": "!", "values": {}}}`: `does not match`,
		`{"config": {}}`: `'configuration' is a required property`,
	} {
		if _, err := ParseConfiguration(mustDecode(t, body), ConfigCreate); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: %v", body, err)
		}
	}
	if _, err := ParseConfiguration(mustDecode(t, `{"configuration": {"name": "x"}}`), ConfigPatch); err == nil {
		t.Errorf("PATCH without values accepted")
	}
	if c, err := ParseConfiguration(mustDecode(t, `{"configuration": {"description": "d"}}`), ConfigReplace); err != nil || *c.Description != "d" || c.Values != nil {
		t.Errorf("PUT: %+v %v", c, err)
	}
}

// Messages never repeat a password (or any field named like a secret), cut what they echo, and stay bounded
// whatever the body holds (issue 12: a 1 MB bad password came back in the 400 and in the log).
func TestMessagesHideSecretsAndStayBounded(t *testing.T) {
	huge := strings.Repeat("s3cr3t", 200000) // 1.2 MB
	long := strings.Repeat("n", 300)
	cases := []struct {
		name  string
		parse func(any) error
		body  string
		want  string // a substring of the message
	}{
		{"too long password", func(d any) error { _, err := ParseCreateUsers(d); return err },
			`{"users": [{"name": "u", "password": "` + huge + `"}]}`, `users[0]['password'] '***' is too long`},
		{"bad password pattern", func(d any) error { _, err := ParseRootEnable(d); return err },
			`{"password": "!!!"}`, `password '***' does not match`},
		{"password of the wrong type", func(d any) error { _, err := ParseChangePasswords(d); return err },
			`{"users": [{"name": "u", "password": ["s3cr3t"]}]}`, `['password'] '***' is not of type 'string'`},
		{"password inside a value shown whole", func(d any) error { _, err := ParseCreateInstance(d); return err },
			`{"instance": {"name": "db", "users": {"name": "u", "password": "s3cr3t", "root_password": "s3cr3t"}}}`,
			`instance['users'] {'name': 'u', 'password': '***', 'root_password': '***'} is not of type 'array'`},
		{"nested key", func(d any) error { _, err := ParseCreateInstance(d); return err },
			`{"instance": {"name": "db", "nics": [{"net-id": "x", "api_key": "s3cr3t"}]}}`, `('api_key' was unexpected)`},
		{"long name cut", func(d any) error { _, err := ParseCreateInstance(d); return err },
			`{"instance": {"name": "` + long + `"}}`, `['name'] '` + strings.Repeat("n", 64) + `…' is too long`},
		{"huge key cut", func(d any) error { _, err := ParseQuotaUpdate(d); return err },
			`{"quotas": {"` + strings.Repeat("k", 1<<20) + `": "x"}}`, `quotas['` + strings.Repeat("k", 64) + `…'] 'x' is not of type 'integer'`},
		{"many unexpected keys", func(d any) error { _, err := ParseUserUpdate(d); return err },
			`{"user": {"a1": 1, "a2": 1, "a3": 1, "a4": 1, "a5": 1, "a6": 1, "a7": 1, "a8": 1, "a9": 1, "b": 1}}`,
			`'a8', … were unexpected`},
		{"huge list", func(d any) error { _, err := ParseCreateInstance(d); return err },
			`{"instance": {"name": "db", "nics": [` + strings.Repeat(`"`+long+`", `, 3000) + `1]}}`, `is too long`},
	}
	for _, c := range cases {
		err := c.parse(mustDecode(t, c.body))
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, c.want) {
			t.Errorf("%s: message %.400q lacks %q", c.name, msg, c.want)
		}
		if strings.Contains(msg, "s3cr3ts3cr3t") || strings.Contains(msg, "'s3cr3t'") || strings.Contains(msg, "!!!") {
			t.Errorf("%s: message repeats the secret: %.400q", c.name, msg)
		}
		if len(msg) > 2000 {
			t.Errorf("%s: message is %d bytes", c.name, len(msg))
		}
	}
}
