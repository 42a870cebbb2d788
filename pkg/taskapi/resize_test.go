package taskapi

import (
	"strings"
	"testing"
)

func TestResizeAndAccessArgs(t *testing.T) {
	f1, f2 := Flavor{ID: "1", RAM: 512}, Flavor{ID: "2", RAM: 1024}
	cases := []struct {
		name string
		v    interface{ Validate() error }
		want string
	}{
		{"resize ok", ResizeFlavorArgs{InstanceID: "abc", OldFlavor: f1, NewFlavor: f2}, ""},
		{"resize same", ResizeFlavorArgs{InstanceID: "abc", OldFlavor: f1, NewFlavor: f1}, "is the current flavor"},
		{"resize no flavor", ResizeFlavorArgs{InstanceID: "abc", OldFlavor: f1}, "need an id"},
		{"resize no id", ResizeFlavorArgs{OldFlavor: f1, NewFlavor: f2}, "instance_id is required"},
		{"access ok", UpdateAccessArgs{InstanceID: "abc", Access: Access{AllowedCIDRs: []string{"10.0.0.0/8", "127.0.0.5"}}}, ""},
		{"access bad cidr", UpdateAccessArgs{InstanceID: "abc", Access: Access{AllowedCIDRs: []string{"999.0.0.1/32"}}}, "not an IPv4"},
		{"access v6", UpdateAccessArgs{InstanceID: "abc", Access: Access{AllowedCIDRs: []string{"::1/128"}}}, "not an IPv4"},
	}
	for _, c := range cases {
		err := c.v.Validate()
		if (c.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	for in, want := range map[string]string{"127.0.0.5": "127.0.0.5/32", "10.1.2.3/8": "10.0.0.0/8", "0.0.0.0/0": "0.0.0.0/0"} {
		if p, err := ParseCIDR(in); err != nil || p.String() != want {
			t.Errorf("ParseCIDR(%q) = %v %v, want %s", in, p, err, want)
		}
	}
}
