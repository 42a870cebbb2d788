#!/usr/bin/python3
"""Keystone entities and cloud objects of the OpenStack test bed (deploy/openstack.sh) — only what is missing.

usage: testbed_objects.py {keystone|objects}...
  keystone  roles admin+service; users nova placement glance neutron cinder in project service with both roles
            (role `service`: Neutron rejects Nova's X-Service-Token without it); user trove keeps admin on service;
            services/endpoints compute placement image network volumev3 (RegionOne, 127.0.0.1)
  objects   flavors 1..5 (the local driver's DefaultFlavors), networks trove-mgmt and trove-shared (project service,
            DHCP off, loopback /24s), images trove-guest-<manager>[-2] (raw, bare, public, tags trove+<manager>);
            prints the KEY=VALUE lines of the test bed's env file (ids) on stdout

Input from the environment (never argv): KS_URL, KS_ADMIN_PASSWORD, OS_SVC_PASSWORD_<SERVICE> (keystone mode),
KS_REGION (default RegionOne). Changes are reported on stderr; no password is ever printed.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import keystone_entities as ke  # noqa: E402  (deploy/keystone_entities.py: create_once, ensure_service, …)

SERVICE_USERS = ("nova", "placement", "glance", "neutron", "cinder")
# type → (name, description, url)
CATALOG = {
    "compute": ("nova", "Nova (test bed)", "http://127.0.0.1:8774/v2.1"),
    "placement": ("placement", "Placement (test bed)", "http://127.0.0.1:8778"),
    "image": ("glance", "Glance (test bed)", "http://127.0.0.1:9292"),
    "network": ("neutron", "Neutron (test bed)", "http://127.0.0.1:9696"),
    "volumev3": ("cinderv3", "Cinder v3 (test bed)", "http://127.0.0.1:8776/v3/%(project_id)s"),
}
# pkg/compute/local DefaultFlavors: id, name, ram MB, vcpus, disk GB
FLAVORS = (("1", "m1.tiny", 512, 1, 1), ("2", "m1.small", 2048, 1, 20), ("3", "m1.medium", 4096, 2, 40),
           ("4", "m1.large", 8192, 4, 80), ("5", "m1.xlarge", 16384, 8, 160))
NETWORKS = (("trove-mgmt", False, "127.120.0.0/24", "TESTBED_MGMT_NETWORK_ID"),
            ("trove-shared", True, "127.121.0.0/24", "TESTBED_SHARED_NETWORK_ID"))
MANAGERS = ("mariadb", "mysql", "postgresql")


def say(msg):
    print(msg, file=sys.stderr)


def ensure_keystone(ks, url):
    project = ke.one(ke.retry(ks.projects.list, name="service", domain=ke.DOMAIN))
    if project is None:
        raise SystemExit("project service does not exist: run deploy/run.sh (keystone.sh entities) first")
    roles = {}
    for name in ("admin", "service"):
        roles[name] = ke.create_once(lambda name=name: ke.one(ks.roles.list(name=name)),
                                     lambda name=name: ks.roles.create(name=name), "role %s" % name)
    for name in SERVICE_USERS:
        pw = os.environ["OS_SVC_PASSWORD_%s" % name.upper()]
        user = ke.create_once(
            lambda name=name: ke.one(ks.users.list(name=name, domain=ke.DOMAIN)),
            lambda name=name, pw=pw: ks.users.create(name=name, domain=ke.DOMAIN, password=pw,
                                                     default_project=project),
            "user %s" % name)
        for role in ("admin", "service"):
            if not ke.retry(ks.role_assignments.list, user=user, project=project, role=roles[role]):
                ke.retry(ks.roles.grant, roles[role], user=user, project=project)
                say("granted role %s on project service to user %s" % (role, name))
        if not ke.password_works(url, name, pw, "service"):
            ke.retry(ks.users.update, user, password=pw)
            say("reset the password of user %s to the persisted one" % name)
    trove = ke.one(ke.retry(ks.users.list, name="trove", domain=ke.DOMAIN))
    if trove is None:
        raise SystemExit("user trove does not exist: run deploy/run.sh (keystone.sh entities) first")
    if not ke.retry(ks.role_assignments.list, user=trove, project=project, role=roles["admin"]):
        ke.retry(ks.roles.grant, roles["admin"], user=trove, project=project)
        say("granted role admin on project service to user trove")
    for type_, (name, description, endpoint) in CATALOG.items():
        ke.ensure_service(ks, name, type_, description, endpoint)


def connection():
    import openstack
    return openstack.connect(auth_url=os.environ["KS_URL"], username="admin",
                             password=os.environ["KS_ADMIN_PASSWORD"], project_name="admin",
                             user_domain_name="Default", project_domain_name="Default",
                             region_name=os.environ.get("KS_REGION", "RegionOne"), identity_api_version="3")


def ensure_objects(conn):
    out = {}
    for fid, name, ram, vcpus, disk in FLAVORS:
        f = conn.compute.find_flavor(fid, ignore_missing=True)
        if f is not None and f.name != name:
            raise SystemExit("flavor id %s is %s, want %s: delete it (openstack flavor delete %s)" %
                             (fid, f.name, name, fid))
        if f is None:
            conn.compute.create_flavor(id=fid, name=name, ram=ram, vcpus=vcpus, disk=disk, is_public=True)
            say("created flavor %s (%s)" % (fid, name))
    service = conn.identity.find_project("service", domain_id="default", ignore_missing=False)
    for name, shared, cidr, key in NETWORKS:
        net = conn.network.find_network(name, project_id=service.id)
        if net is None:
            net = conn.network.create_network(name=name, project_id=service.id, is_shared=shared)
            say("created network %s" % name)
        if not list(conn.network.subnets(network_id=net.id)):
            conn.network.create_subnet(name=name, network_id=net.id, project_id=service.id, ip_version=4,
                                       cidr=cidr, is_dhcp_enabled=False)
            say("created subnet %s %s" % (name, cidr))
        out[key] = net.id
    for manager in MANAGERS:
        for suffix, keysuffix in (("", ""), ("-2", "_2")):
            name = "trove-guest-%s%s" % (manager, suffix)
            image = ensure_image(conn, name, manager)
            out["TESTBED_IMAGE_%s%s" % (manager.upper(), keysuffix)] = image.id
    for k in sorted(out):
        print("%s=%s" % (k, out[k]))


def ensure_image(conn, name, manager):
    found = [i for i in conn.image.images(name=name)]
    good = [i for i in found if i.status == "active"]
    for i in found:
        if i.status != "active":
            conn.image.delete_image(i)
            say("deleted image %s %s (status %s)" % (name, i.id, i.status))
    if good:
        image = good[0]
        if not {"trove", manager} <= set(image.tags or []):
            for tag in ("trove", manager):
                conn.image.add_tag(image, tag)
        return image
    # A tiny raw image: nothing boots (fake hypervisor); the boot emulator runs the guest agent instead.
    image = conn.image.create_image(name=name, disk_format="raw", container_format="bare", visibility="public",
                                    data=b"trove test bed guest image %s\n" % name.encode(), tags=["trove", manager],
                                    allow_duplicates=True)
    say("created image %s %s" % (name, image.id))
    return image


def main():
    modes = sys.argv[1:]
    if not modes or any(m not in ("keystone", "objects") for m in modes):
        print(__doc__, file=sys.stderr)
        return 2
    if "keystone" in modes:
        from keystoneauth1 import session as ksa_session
        from keystoneauth1.identity import v3
        from keystoneclient.v3 import client as ks_client
        url = os.environ["KS_URL"]
        auth = v3.Password(auth_url=url, username="admin", password=os.environ["KS_ADMIN_PASSWORD"],
                           user_domain_id=ke.DOMAIN, project_name="admin", project_domain_id=ke.DOMAIN)
        ensure_keystone(ks_client.Client(session=ksa_session.Session(auth=auth), interface="public"), url)
    if "objects" in modes:
        ensure_objects(connection())
    return 0


if __name__ == "__main__":
    sys.exit(main())
