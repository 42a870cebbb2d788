#!/usr/bin/python3
"""Interop peer for pkg/rpc tests: a real oslo.messaging RPC client or server (Debian's python3-oslo.messaging),
optionally with Trove's SecureSerializer / ConductorGuestSerializer re-implemented from trove/common/rpc and
trove/common/crypto_utils (rpc.md §C).

usage: interop.py server|client|conductor-client URL EXCHANGE TOPIC [KEY] [INSTANCE_ID]
  server            serves echo (call), note (cast), notes (call: returns cast texts), fail (raises ValueError);
                    prints READY once listening, exits when stdin closes.
  client            calls echo and fail, casts note twice on TOPIC; prints one JSON line of results.
  conductor-client  casts heartbeat to TOPIC with ConductorGuestSerializer (KEY, INSTANCE_ID).
"""
import base64
import hashlib
import json
import os
import sys
import threading

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from oslo_config import cfg
import oslo_messaging as messaging

IV_BIT_COUNT = 128


def encrypt_data(data, key):
    md5_key = hashlib.md5(key.encode('utf-8')).hexdigest().encode('ascii')
    iv = os.urandom(IV_BIT_COUNT // 8)
    if isinstance(data, str):
        data = data.encode('utf-8')
    n = 16 - len(data) % 16
    data += bytes([n] * n)
    enc = Cipher(algorithms.AES(md5_key), modes.CBC(iv)).encryptor()
    return iv + enc.update(data) + enc.finalize()


def decrypt_data(data, key):
    md5_key = hashlib.md5(key.encode('utf-8')).hexdigest().encode('ascii')
    iv, ct = data[:16], data[16:]
    dec = Cipher(algorithms.AES(md5_key), modes.CBC(iv)).decryptor()
    out = dec.update(ct) + dec.finalize()
    return out[:-out[-1]]  # Trove strips without validating


def encode_data(b):
    return base64.b64encode(b).decode('utf-8')


def decode_data(s):
    return base64.b64decode(s)


class DictContextSerializer(messaging.NoOpSerializer):
    def serialize_context(self, ctxt):
        return dict(ctxt)

    def deserialize_context(self, ctxt):
        return dict(ctxt)


class SecureSerializer(messaging.Serializer):
    """trove.common.rpc.secure_serializer.SecureSerializer"""

    def __init__(self, base, key):
        self._base, self._key = base, key

    def serialize_entity(self, ctxt, entity):
        entity = self._base.serialize_entity(ctxt, entity)
        if self._key is None:
            return entity
        return encode_data(encrypt_data(json.dumps(entity), self._key))

    def deserialize_entity(self, ctxt, entity):
        try:
            if self._key is not None:
                entity = json.loads(decrypt_data(decode_data(entity), self._key))
        except (ValueError, TypeError):
            pass
        return self._base.deserialize_entity(ctxt, entity)

    def serialize_context(self, ctxt):
        ctxt = self._base.serialize_context(ctxt)
        if self._key is None:
            return ctxt
        return {'context': encode_data(encrypt_data(json.dumps(ctxt), self._key))}

    def deserialize_context(self, ctxt):
        try:
            if self._key is not None:
                ctxt = json.loads(decrypt_data(decode_data(ctxt['context']), self._key))
        except (ValueError, TypeError):
            pass
        return self._base.deserialize_context(ctxt)


class ConductorGuestSerializer(SecureSerializer):
    """trove.common.rpc.conductor_guest_serializer.ConductorGuestSerializer"""

    def __init__(self, base, key, instance_id):
        super().__init__(base, key)
        self._id = instance_id

    def serialize_entity(self, ctxt, entity):
        entity = self._base.serialize_entity(ctxt, entity)
        if self._key is None:
            return entity
        value = {'entity': encode_data(encrypt_data(json.dumps(entity), self._key)), 'csz-instance-id': self._id}
        return json.dumps(value)

    def serialize_context(self, ctxt):
        ctxt = self._base.serialize_context(ctxt)
        if self._key is None:
            return ctxt
        return {'context': encode_data(encrypt_data(json.dumps(ctxt), self._key)), 'csz-instance-id': self._id}


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
    cfg.CONF([], project='interop')
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
        ser = ConductorGuestSerializer(DictContextSerializer(), key, instance_id)
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
