package guestbroker

import (
	"regexp"
	"strings"
	"testing"

	"github.com/trove-go/trove/pkg/config"
)

func TestWithAccount(t *testing.T) {
	for in, want := range map[string]string{
		"rabbit://trove:secret@127.0.0.1:5672/":             "rabbit://u:p%2Fw@127.0.0.1:5672/",
		"rabbit://trove:s@h1:5672,trove:s@h2:5673/vh?ssl=1": "rabbit://u:p%2Fw@h1:5672,u:p%2Fw@h2:5673/vh?ssl=1",
		"rabbit://h1:5672":                                  "rabbit://u:p%2Fw@h1:5672",
		"rabbit://":                                         "rabbit://u:p%2Fw@localhost:5672",
		"rabbit+ssl://a:b@broker.example:5671/%2F":          "rabbit+ssl://u:p%2Fw@broker.example:5671/%2F",
		"rabbit://we:ird@pass@h:5672/":                      "rabbit://u:p%2Fw@h:5672/",
	} {
		got, err := WithAccount(in, "u", "p/w")
		if err != nil || got != want {
			t.Errorf("WithAccount(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := WithAccount("not a url", "u", "p"); err == nil {
		t.Error("WithAccount accepted a non-URL")
	}
}

func TestVhost(t *testing.T) {
	for in, want := range map[string]string{
		"rabbit://u:p@h:5672/": "/", "rabbit://u:p@h:5672": "/", "rabbit://u:p@h:5672/%2F": "/",
		"rabbit://u:p@h:5672/trove?x=1": "trove", "rabbit://u:p@h1,u:p@h2/a%2Fb": "a/b",
	} {
		if got, err := Vhost(in); err != nil || got != want {
			t.Errorf("Vhost(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestGuestConfig(t *testing.T) {
	const url = "rabbit://trove-guest-x:pw@127.0.0.1:5672/"
	cases := map[string]string{
		"replaced": "[DEFAULT]\ncontrol_exchange = trove\ntransport_url = rabbit://trove:SHARED@127.0.0.1:5672/\n" +
			"\n[mysql]\nx = 1\n",
		"missing, other section follows": "[DEFAULT]\ncontrol_exchange = trove\n[mysql]\nx = 1\n",
		"missing at end":                 "[DEFAULT]\ncontrol_exchange = trove\n",
		"no DEFAULT":                     "[mysql]\nx = 1\n",
		"empty":                          "",
		"continuation and notifications": "[DEFAULT]\ntransport_url = rabbit://trove:SHARED@h1:5672,\n  trove:SHARED@h2:5672/\nk = v\n" +
			"[oslo_messaging_notifications]\ndriver = messagingv2\ntransport_url = rabbit://trove:SHARED@h/\n",
		"our section dropped": "[DEFAULT]\ntransport_url = rabbit://trove:SHARED@h/\n[guest_broker]\nmanagement_password = ADMINPW\n" +
			"restricted_account = false\n[mysql]\nx = 1\n",
	}
	for name, in := range cases {
		out := GuestConfig(in, url)
		if strings.Contains(out, "SHARED") || strings.Contains(out, "ADMINPW") {
			t.Errorf("%s: a control-plane secret is left in\n%s", name, out)
		}
		f, err := config.Parse(out)
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
		if got := f.String("DEFAULT", "transport_url", ""); got != url {
			t.Errorf("%s: transport_url = %q\n%s", name, got, out)
		}
		if !f.Bool(Section, "restricted_account", false) {
			t.Errorf("%s: restricted_account not set\n%s", name, out)
		}
		if strings.Contains(in, "[mysql]") && f.String("mysql", "x", "") != "1" {
			t.Errorf("%s: [mysql] x lost\n%s", name, out)
		}
		if strings.Contains(in, "control_exchange") && f.String("DEFAULT", "control_exchange", "") != "trove" {
			t.Errorf("%s: control_exchange lost\n%s", name, out)
		}
		if strings.Contains(in, "k = v") && f.String("DEFAULT", "k", "") != "v" {
			t.Errorf("%s: k lost\n%s", name, out)
		}
		if got := f.String("oslo_messaging_notifications", "transport_url", ""); got != "" {
			t.Errorf("%s: notification transport_url kept: %q", name, got)
		}
	}
}

func TestGrantFor(t *testing.T) {
	const a, b = "3f0c8a4e-1b2c-4d5e-8f90-123456789abc", "9a9a8a4e-1b2c-4d5e-8f90-123456789abc"
	g := GrantFor(a, "/", "trove", "trove-conductor")
	type c struct {
		re   string
		name string
		ok   bool
	}
	for _, x := range []c{
		// configure: only its own queues and fanout exchange
		{g.Configure, "guestagent." + a, true}, {g.Configure, "guestagent." + a + "." + a, true},
		{g.Configure, "guestagent." + a + "_fanout", true}, {g.Configure, "guestagent." + a + "_fanout_0123abcd", true},
		{g.Configure, "trove", false}, {g.Configure, "taskmanager", false}, {g.Configure, "guestagent." + b, false},
		{g.Configure, "guestagent." + a + "." + b, false}, {g.Configure, "guestagent." + a + "x", false},
		{g.Configure, "reply_0123", false}, {g.Configure, "amq.gen-xyz", false},
		// write: replies, the control exchange, its own queues (bind); never its fanout exchange or others
		{g.Write, "amq.default", true}, {g.Write, "trove", true}, {g.Write, "guestagent." + a, true},
		{g.Write, "guestagent." + a + "_fanout", false}, {g.Write, "taskmanager", false}, {g.Write, "guestagent." + b, false},
		{g.Write, "trove-conductor", false}, {g.Write, "troveX", false},
		// read: bind sources and its own queues
		{g.Read, "trove", true}, {g.Read, "guestagent." + a + "_fanout", true}, {g.Read, "guestagent." + a + "." + a, true},
		{g.Read, "guestagent." + b, false}, {g.Read, "taskmanager", false}, {g.Read, "trove-conductor", false},
		{g.Read, "reply_0123", false},
		// topic permissions on the control exchange
		{g.TopicWrite, "trove-conductor", true}, {g.TopicWrite, "taskmanager", false}, {g.TopicWrite, "trove-conductor.x", false},
		{g.TopicWrite, "guestagent." + b, false},
		{g.TopicRead, "guestagent." + a, true}, {g.TopicRead, "guestagent." + a + "." + a, true},
		{g.TopicRead, "taskmanager", false}, {g.TopicRead, "guestagent." + b, false}, {g.TopicRead, "#", false},
		{g.TopicRead, "guestagent.*", false}, {g.TopicRead, "trove-conductor", false},
	} {
		if got := regexp.MustCompile(x.re).MatchString(x.name); got != x.ok {
			t.Errorf("%s matches %q = %v, want %v", x.re, x.name, got, x.ok)
		}
	}
	if g.Exchange != "trove" || g.Vhost != "/" {
		t.Errorf("grant %+v", g)
	}
}
