module github.com/trove-go/trove/deploy/openstack/bootemu

go 1.26.8

require (
	github.com/gophercloud/gophercloud/v2 v2.16.0
	github.com/sirupsen/logrus v1.10.2
	gopkg.in/ini.v1 v1.67.3
	gopkg.in/yaml.v3 v3.0.1
)

require (
	filippo.io/edwards25519 v1.2.0 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/rabbitmq/amqp091-go v1.16.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
)

require (
	github.com/go-sql-driver/mysql v1.10.1
	github.com/trove-go/trove/pkg v0.0.0
)

replace (
	github.com/trove-go/trove/db => ../../../db
	github.com/trove-go/trove/pkg => ../../../pkg
)
