package guestapi

import (
	"encoding/json"
	"testing"
)

func TestPageWire(t *testing.T) {
	m := "db2"
	p := DatabasePage{Items: []Schema{{Name: "db1"}, {Name: "db2"}}, NextMarker: &m}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	want := `[[{"_name":"db1","_collate":null,"_character_set":null},{"_name":"db2","_collate":null,"_character_set":null}],"db2"]`
	if string(b) != want {
		t.Fatalf("got %s", b)
	}
	var back DatabasePage
	if err := json.Unmarshal(b, &back); err != nil || len(back.Items) != 2 || *back.NextMarker != "db2" {
		t.Fatalf("back = %+v, %v", back, err)
	}
	empty, _ := json.Marshal(UserPage{})
	if string(empty) != `[[],null]` {
		t.Fatalf("empty = %s", empty)
	}
	if err := json.Unmarshal([]byte(`[[]]`), &back); err == nil {
		t.Fatal("one-element list accepted")
	}
}

func TestArgsValidate(t *testing.T) {
	pw := "pw"
	empty := ""
	cases := []struct {
		name string
		args interface{ Validate() error }
		ok   bool
	}{
		{"create db", CreateDatabaseArgs{Databases: []Schema{{Name: "a"}}}, true},
		{"create no db", CreateDatabaseArgs{}, false},
		{"create unnamed", CreateDatabaseArgs{Databases: []Schema{{}}}, false},
		{"user ok", CreateUserArgs{Users: []User{{Name: "u", Password: &pw}}}, true},
		{"user no pw", CreateUserArgs{Users: []User{{Name: "u"}}}, false},
		{"attrs none", UpdateAttributesArgs{UserRef: UserRef{Username: "u"}}, false},
		{"attrs pw", UpdateAttributesArgs{UserRef: UserRef{Username: "u"}, UserAttrs: UserAttrs{Password: &pw}}, true},
		{"attrs empty name", UpdateAttributesArgs{UserRef: UserRef{Username: "u"}, UserAttrs: UserAttrs{Name: &empty}}, false},
		{"revoke", RevokeAccessArgs{UserRef: UserRef{Username: "u"}}, false},
		{"root empty", EnableRootWithPasswordArgs{RootPassword: &empty}, false},
		{"root null", EnableRootWithPasswordArgs{}, true},
		{"upgrade", UpgradeArgs{}, false},
	}
	for _, c := range cases {
		if err := c.args.Validate(); (err == nil) != c.ok {
			t.Errorf("%s: err=%v want ok=%v", c.name, err, c.ok)
		}
	}
}

func TestUserRefWire(t *testing.T) {
	var a GrantAccessArgs
	if err := json.Unmarshal([]byte(`{"username":"u","hostname":null,"databases":["a"]}`), &a); err != nil {
		t.Fatal(err)
	}
	if a.Username != "u" || a.Host() != "%" || a.Databases[0] != "a" {
		t.Fatalf("%+v", a)
	}
}
