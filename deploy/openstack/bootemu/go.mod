module github.com/trove-go/trove/deploy/openstack/bootemu

go 1.26.8

require (
	github.com/gophercloud/gophercloud/v2 v2.16.0
	github.com/sirupsen/logrus v1.10.2
	gopkg.in/ini.v1 v1.67.3
	gopkg.in/yaml.v3 v3.0.1
)

require golang.org/x/sys v0.47.0 // indirect
