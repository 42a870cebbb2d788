// Package e2e holds the end-to-end tests of a whole deployment: `make run` (deploy/run.sh) brings the services
// up for real and the tests drive them with Debian's openstack CLI, the mariadb and psql clients, as a user would.
package e2e
