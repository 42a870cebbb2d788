#!/usr/bin/python3
"""Stand-in for Trove Zed's guest agent on the bus, for pkg/guestapi tests: a real oslo.messaging RPC server on
guestagent.<id> (server <id>) whose endpoint version is 1.1 — stable/zed's API_LATEST_VERSION, what Debian's
trove-guestagent 18.0 serves — so oslo's dispatcher refuses newer versions exactly as that guest does; with
Trove's own SecureSerializer (python3-trove, as pkg/rpc/testdata/interop.py imports it) when KEY is given. The
methods have Zed's manager
signatures (trove/guestagent/datastore/manager.py), so an argument Zed does not know fails as it would there.
Each records the arguments it received; `received` (call) returns the records.

usage: zedguest.py URL EXCHANGE INSTANCE_ID [KEY]
  prints READY once listening, exits when stdin closes.
"""
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'rpc', 'testdata'))
from interop import DictContextSerializer, SecureSerializer  # noqa: E402

from oslo_config import cfg  # noqa: E402
import oslo_messaging as messaging  # noqa: E402


class ZedGuest(object):
    target = messaging.Target(version='1.1')

    def __init__(self):
        self.records = []
        self.lock = threading.Lock()

    def _record(self, method, args):
        with self.lock:
            self.records.append({'method': method, 'args': args})

    def prepare(self, context, packages, databases, memory_mb, users, device_path=None, mount_point=None,
                backup_info=None, config_contents=None, root_password=None, overrides=None, cluster_config=None,
                snapshot=None, modules=None, ds_version=None):
        self._record('prepare', {'ds_version': ds_version, 'memory_mb': memory_mb,
                                 'databases': databases, 'mount_point': mount_point})

    def restart(self, context):
        self._record('restart', {})

    def stop_db(self, context):
        self._record('stop_db', {})

    def get_filesystem_stats(self, context, fs_path):
        self._record('get_filesystem_stats', {'fs_path': fs_path})
        return {'block_size': 4096, 'total_blocks': 262144, 'free_blocks': 131072, 'avail_blocks': 131072,
                'total': 1.0, 'free': 536870912, 'used': 0.5}

    def resize_fs(self, context, device_path=None, mount_point=None, online=False):
        self._record('resize_fs', {'device_path': device_path, 'mount_point': mount_point, 'online': online})

    def list_databases(self, context, limit=None, marker=None, include_marker=False):
        self._record('list_databases', {'limit': limit, 'marker': marker, 'include_marker': include_marker})
        return [[{'_name': 'app', '_collate': None, '_character_set': None}], None]

    def rpc_ping(self, context):
        return True

    def received(self, context):
        with self.lock:
            return list(self.records)


def main():
    url, exchange, instance_id = sys.argv[1:4]
    key = sys.argv[4] if len(sys.argv) > 4 and sys.argv[4] else None
    cfg.CONF([], project='zedguest')
    messaging.set_transport_defaults(control_exchange=exchange)
    transport = messaging.get_rpc_transport(cfg.CONF, url=url)
    server = messaging.get_rpc_server(transport, messaging.Target(topic='guestagent.' + instance_id, server=instance_id),
                                      [ZedGuest()], executor='threading',
                                      serializer=SecureSerializer(DictContextSerializer(), key))
    server.start()
    print('READY', flush=True)
    sys.stdin.read()
    server.stop()
    server.wait()


if __name__ == '__main__':
    main()
    sys.stdout.flush()
    os._exit(0)  # oslo's rabbit driver leaves a non-daemon thread that delays exit by ~10 s
