"""Test-bed plug-ins for the OpenStack control plane of deploy/openstack.sh (never used in production)."""
