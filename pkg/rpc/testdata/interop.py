#!/usr/bin/python3
"""Interop peer for pkg/rpc tests: a real oslo.messaging RPC client or server (Debian's python3-oslo.messaging),
optionally with Trove's own SecureSerializer / ConductorGuestSerializer (trove.common.rpc, python3-trove).

usage: interop.py server|client|conductor-client URL EXCHANGE TOPIC [KEY] [INSTANCE_ID]
  server            serves echo (call), note (cast), notes (call: returns cast texts), fail (raises ValueError);
                    prints READY once listening, exits when stdin closes.
  client            calls echo and fail, casts note twice on TOPIC; prints one JSON line of results.
  conductor-client  casts heartbeat to TOPIC with ConductorGuestSerializer (KEY, INSTANCE_ID).
"""
import json
import os
import sys
import threading

from oslo_config import cfg
import oslo_messaging as messaging
# Trove's own serializers from Debian's python3-trove (Zed), not a re-implementation: the Go codecs must
# interoperate with exactly what Python guests and control planes run.
from trove.common.rpc.conductor_guest_serializer import ConductorGuestSerializer
from trove.common.rpc.secure_serializer import SecureSerializer


class DictContextSerializer(messaging.NoOpSerializer):
    def serialize_context(self, ctxt):
        return dict(ctxt)

    def deserialize_context(self, ctxt):
        return dict(ctxt)


class Endpoint(object):
    target = messaging.Target(version='1.3')

    def __init__(self):
        self.texts = []
        self.lock = threading.Lock()

    def echo(self, ctxt, text):
        return {'text': text, 'request_id': ctxt.get('request_id'), 'roles': ctxt.get('roles')}

    def note(self, ctxt, text):
        with self.lock:
            self.texts.append(text)

    def notes(self, ctxt):
        with self.lock:
            return list(self.texts)

    def fail(self, ctxt):
        raise ValueError('bad value from python')


def main():
    mode, url, exchange, topic = sys.argv[1:5]
    key = sys.argv[5] if len(sys.argv) > 5 and sys.argv[5] else None
    instance_id = sys.argv[6] if len(sys.argv) > 6 else None
    if instance_id and 'guest_id' not in cfg.CONF:
        cfg.CONF.register_opt(cfg.StrOpt('guest_id'))
    cfg.CONF([], project='interop')
    if instance_id:
        cfg.CONF.set_override('guest_id', instance_id)  # ConductorGuestSerializer names the guest from CONF
    messaging.set_transport_defaults(control_exchange=exchange)
    transport = messaging.get_rpc_transport(cfg.CONF, url=url)
    ctx = {'request_id': 'req-python-1', 'user': 'u-py', 'project_id': 'p-py', 'roles': ['admin'],
           'is_admin': True, 'auth_token': 'tok'}
    if mode == 'server':
        ser = SecureSerializer(DictContextSerializer(), key)
        server = messaging.get_rpc_server(transport, messaging.Target(topic=topic, server='py-host'),
                                          [Endpoint()], executor='threading', serializer=ser)
        server.start()
        print('READY', flush=True)
        sys.stdin.read()
        server.stop()
        server.wait()
        return
    if mode == 'client':
        ser = SecureSerializer(DictContextSerializer(), key)
        client = messaging.get_rpc_client(transport, messaging.Target(topic=topic), serializer=ser)
        c = client.prepare(version='1.3', timeout=15)
        out = {'echo': c.call(ctx, 'echo', text='from python')}
        try:
            c.call(ctx, 'fail')
        except messaging.RemoteError as e:
            out['fail'] = {'exc_type': e.exc_type, 'value': e.value}
        except Exception as e:  # rebuilt from an allowed module (builtins)
            out['fail'] = {'exc_type': type(e).__name__, 'value': str(e).strip()}
        try:
            c.call(ctx, 'no_such_method')
        except messaging.RemoteError as e:
            out['nosuch'] = {'exc_type': e.exc_type}
        c.cast(ctx, 'note', text='cast-1')
        c.cast(ctx, 'note', text='cast-2')
        print(json.dumps(out), flush=True)
        transport.cleanup()
        return
    if mode == 'conductor-client':
        ser = ConductorGuestSerializer(DictContextSerializer(), key)
        client = messaging.get_rpc_client(transport, messaging.Target(topic=topic), serializer=ser)
        client.prepare(version='1.0').cast(ctx, 'heartbeat', instance_id=instance_id,
                                          payload={'service_status': 'healthy'}, sent=1767607202.123456)
        print(json.dumps({'ok': True}), flush=True)
        transport.cleanup()
        return
    sys.exit('unknown mode ' + mode)


if __name__ == '__main__':
    main()
    sys.stdout.flush()
    os._exit(0)  # oslo's rabbit driver leaves a non-daemon thread that delays exit by ~10 s
