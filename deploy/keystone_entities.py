#!/usr/bin/python3
"""Create the Keystone entities Trove needs — only what is missing (list first, then create).

usage: keystone_entities.py {test|catalog|swift}...
  test     projects service, demo, demo2; users trove (admin on service), demo (member on demo),
           demo2 (member on demo2), demoreader (reader on demo)
  catalog  service `trove` of type `database` and its public/internal/admin endpoints (TROVE_ENDPOINT_URL)
  swift    user swift (admin on project service, KS_SWIFT_PASSWORD), service `swift` of type `object-store` and
           its endpoints (SWIFT_ENDPOINT_URL) — for deploy/swift.sh

Input from the environment (never argv, so no password shows in ps): KS_URL, KS_ADMIN_PASSWORD,
KS_SERVICE_PASSWORD, KS_DEMO_PASSWORD, TROVE_ENDPOINT_URL, KS_SWIFT_PASSWORD, SWIFT_ENDPOINT_URL, KS_REGION (default RegionOne).
Prints one line per change; prints nothing when everything already exists. Never prints a password.
"""
import os
import sys
import time

from keystoneauth1 import exceptions as ksa_exc
from keystoneauth1 import session as ksa_session
from keystoneauth1.identity import v3
from keystoneclient.v3 import client as ks_client

DOMAIN = "default"


def retry(fn, *args, **kwargs):
    """Retries idempotent calls (lists, grants) on connection-level failures."""
    for attempt in range(5):
        try:
            return fn(*args, **kwargs)
        except (ksa_exc.ConnectFailure, ksa_exc.ConnectTimeout, ksa_exc.RetriableConnectionFailure):
            if attempt == 4:
                raise
            time.sleep(0.5 * (attempt + 1))


def create_once(find, create, what):
    """Creates an object unless find() returns it. After a connection failure during the create, it looks again
    before retrying, so a flaky call never creates a duplicate."""
    obj = retry(find)
    if obj is not None:
        return obj
    for attempt in range(5):
        try:
            obj = create()
            print("created %s" % what)
            return obj
        except (ksa_exc.ConnectFailure, ksa_exc.ConnectTimeout, ksa_exc.RetriableConnectionFailure):
            time.sleep(0.5 * (attempt + 1))
            obj = retry(find)
            if obj is not None:
                print("created %s" % what)
                return obj
    raise RuntimeError("could not create %s" % what)


def one(items):
    items = list(items)
    return items[0] if items else None


def password_works(url, user, password, project):
    auth = v3.Password(auth_url=url, username=user, password=password, user_domain_id=DOMAIN,
                       project_name=project, project_domain_id=DOMAIN)
    try:
        retry(ksa_session.Session(auth=auth).get_token)
        return True
    except ksa_exc.Unauthorized:
        return False


def ensure_test_entities(ks, url):
    service_pw = os.environ["KS_SERVICE_PASSWORD"]
    demo_pw = os.environ["KS_DEMO_PASSWORD"]
    projects = {}
    for name in ("service", "demo", "demo2"):
        projects[name] = create_once(
            lambda name=name: one(ks.projects.list(name=name, domain=DOMAIN)),
            lambda name=name: ks.projects.create(name=name, domain=DOMAIN, description="created by trove-go deploy"),
            "project %s" % name)
    roles = {}
    for name in ("admin", "member", "reader"):
        roles[name] = create_once(lambda name=name: one(ks.roles.list(name=name)),
                                  lambda name=name: ks.roles.create(name=name), "role %s" % name)
    users = (("trove", service_pw, "service", "admin"),
             ("demo", demo_pw, "demo", "member"),
             ("demo2", demo_pw, "demo2", "member"),
             ("demoreader", demo_pw, "demo", "reader"))
    for name, pw, project, role in users:
        user = create_once(
            lambda name=name: one(ks.users.list(name=name, domain=DOMAIN)),
            lambda name=name, pw=pw, project=project: ks.users.create(
                name=name, domain=DOMAIN, password=pw, default_project=projects[project]),
            "user %s" % name)
        if not retry(ks.role_assignments.list, user=user, project=projects[project], role=roles[role]):
            retry(ks.roles.grant, roles[role], user=user, project=projects[project])
            print("granted role %s on project %s to user %s" % (role, project, name))
        if not password_works(url, name, pw, project):
            retry(ks.users.update, user, password=pw)
            print("reset the password of user %s to the persisted one" % name)


def ensure_catalog(ks):
    ensure_service(ks, "trove", "database", "Trove (Go) Database Service", os.environ["TROVE_ENDPOINT_URL"])


def ensure_swift(ks, url):
    """User swift (admin on project service) for the proxy's authtoken and s3token, and the object-store service."""
    pw = os.environ["KS_SWIFT_PASSWORD"]
    project = create_once(lambda: one(ks.projects.list(name="service", domain=DOMAIN)),
                          lambda: ks.projects.create(name="service", domain=DOMAIN,
                                                     description="created by trove-go deploy"),
                          "project service")
    for name in ("admin", "member"):
        create_once(lambda name=name: one(ks.roles.list(name=name)),
                    lambda name=name: ks.roles.create(name=name), "role %s" % name)
    admin = one(retry(ks.roles.list, name="admin"))
    user = create_once(lambda: one(ks.users.list(name="swift", domain=DOMAIN)),
                       lambda: ks.users.create(name="swift", domain=DOMAIN, password=pw, default_project=project),
                       "user swift")
    if not retry(ks.role_assignments.list, user=user, project=project, role=admin):
        retry(ks.roles.grant, admin, user=user, project=project)
        print("granted role admin on project service to user swift")
    if not password_works(url, "swift", pw, "service"):
        retry(ks.users.update, user, password=pw)
        print("reset the password of user swift to the persisted one")
    ensure_service(ks, "swift", "object-store", "Swift object storage (backups)", os.environ["SWIFT_ENDPOINT_URL"])


def ensure_service(ks, name, type_, description, endpoint_url):
    region = os.environ.get("KS_REGION", "RegionOne")
    services = list(retry(ks.services.list, type=type_))
    if len(services) > 1:
        print("warning: %d services of type %s exist; using %s" % (len(services), type_, services[0].id),
              file=sys.stderr)
    service = create_once(lambda: one(ks.services.list(type=type_)),
                          lambda: ks.services.create(name=name, type=type_, description=description),
                          "service %s (type %s)" % (name, type_))
    for interface in ("public", "internal", "admin"):
        endpoint = create_once(
            lambda interface=interface: one(ks.endpoints.list(service=service, interface=interface,
                                                              region_id=region)),
            lambda interface=interface: ks.endpoints.create(service=service, url=endpoint_url,
                                                            interface=interface, region=region),
            "%s endpoint %s" % (interface, endpoint_url))
        if endpoint.url != endpoint_url:
            retry(ks.endpoints.update, endpoint, url=endpoint_url)
            print("updated %s endpoint to %s" % (interface, endpoint_url))


def main():
    if len(sys.argv) < 2 or any(a not in ("test", "catalog", "swift") for a in sys.argv[1:]):
        print(__doc__, file=sys.stderr)
        return 2
    url = os.environ["KS_URL"]
    auth = v3.Password(auth_url=url, username="admin", password=os.environ["KS_ADMIN_PASSWORD"],
                       user_domain_id=DOMAIN, project_name="admin", project_domain_id=DOMAIN)
    ks = ks_client.Client(session=ksa_session.Session(auth=auth), interface="public")
    if "test" in sys.argv[1:]:
        ensure_test_entities(ks, url)
    if "catalog" in sys.argv[1:]:
        ensure_catalog(ks)
    if "swift" in sys.argv[1:]:
        ensure_swift(ks, url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
