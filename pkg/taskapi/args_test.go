package taskapi

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	size := 1
	zero := 0
	good := CreateInstanceArgs{InstanceID: "5f1c3a2e-8d4b-4c1e-9a7f-0b2c3d4e5f60", Name: "db1",
		Flavor: Flavor{ID: "1", RAM: 512}, ImageID: "mariadb-local", DatastoreManager: "mariadb", VolumeSize: &size}
	noUserName := good
	pw := "x"
	noUserName.Users = []User{{Password: &pw}}
	zeroVol := good
	zeroVol.VolumeSize = &zero
	badID := good
	badID.InstanceID = "../etc"
	cases := []struct {
		name    string
		v       interface{ Validate() error }
		wantErr string
	}{
		{"create ok", good, ""},
		{"create empty", CreateInstanceArgs{}, "instance_id is required"},
		{"create user without name", noUserName, "users[0]"},
		{"create zero volume", zeroVol, "volume_size must be positive"},
		{"create path id", badID, "not a valid id"},
		{"delete ok", DeleteInstanceArgs{InstanceID: "abc"}, ""},
		{"delete empty", DeleteInstanceArgs{}, "instance_id is required"},
		{"restart empty", RestartArgs{}, "instance_id is required"},
		{"resize ok", ResizeVolumeArgs{InstanceID: "abc", NewSize: 2}, ""},
		{"resize zero", ResizeVolumeArgs{InstanceID: "abc"}, "new_size must be positive"},
		{"upgrade missing version", UpgradeArgs{InstanceID: "abc"}, "datastore_version_id is required"},
		{"upgrade ok", UpgradeArgs{InstanceID: "abc", DatastoreVersionID: "v1"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.v.Validate()
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("error %v, want containing %q", err, c.wantErr)
			}
		})
	}
}

// A create_instance payload as Python trove-api sends it (novaclient flavor dict with extra keys).
func TestDecodePythonCreateInstance(t *testing.T) {
	payload := `{"instance_id": "i-1", "name": "db1",
	 "flavor": {"id": 7, "name": "m1.small", "ram": 2048, "vcpus": 1, "disk": 10, "swap": "", "_loaded": true,
	            "OS-FLV-EXT-DATA:ephemeral": 0, "links": []},
	 "image_id": "img", "databases": [{"_name": "app", "_collate": null, "_character_set": "utf8mb3"}],
	 "users": [{"_name": "u", "_host": "%", "_password": "pw", "_databases": [{"_name": "app"}], "_is_root": false}],
	 "datastore_manager": "mysql", "packages": null, "volume_size": 1, "backup_id": null,
	 "availability_zone": null, "root_password": null, "nics": [], "overrides": {"max_connections": 10},
	 "slave_of_id": null, "cluster_config": null, "volume_type": null, "modules": [], "locality": null,
	 "access": {"is_public": false, "allowed_cidrs": ["10.0.0.0/8"]}, "ds_version": "10.11"}`
	var a CreateInstanceArgs
	if err := json.Unmarshal([]byte(payload), &a); err != nil {
		t.Fatal(err)
	}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	if a.Flavor.ID != "7" || a.Flavor.RAM != 2048 || a.Flavor.Name != "m1.small" {
		t.Fatalf("flavor %+v", a.Flavor)
	}
	if *a.VolumeSize != 1 || a.Users[0].Databases[0].Name != "app" || *a.Databases[0].CharacterSet != "utf8mb3" {
		t.Fatalf("decoded %+v", a)
	}
	if a.Access == nil || a.Access.AllowedCIDRs[0] != "10.0.0.0/8" || a.DSVersion != "10.11" {
		t.Fatalf("decoded %+v", a)
	}
	var s Flavor
	if err := json.Unmarshal([]byte(`{"id": "abc", "ram": 1}`), &s); err != nil || s.ID != "abc" {
		t.Fatalf("string flavor id: %v %+v", err, s)
	}
}
