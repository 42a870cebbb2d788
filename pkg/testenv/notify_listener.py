#!/usr/bin/python3
"""A real oslo.messaging notification listener (Debian's python3-oslo.messaging), as a billing system runs one.

usage: notify_listener.py URL EXCHANGE TOPIC OUTFILE
Listens on TOPIC.{info,warn,error} of EXCHANGE; writes one JSON line per notification to OUTFILE:
{"priority", "publisher_id", "event_type", "payload", "context", "metadata"}. Prints READY once listening, exits
when stdin closes.
"""
import json
import sys
import threading

from oslo_config import cfg
import oslo_messaging as messaging


class Endpoint(object):
    def __init__(self, out):
        self.out = out
        self.lock = threading.Lock()

    def _record(self, priority, ctxt, publisher_id, event_type, payload, metadata):
        with self.lock:
            self.out.write(json.dumps({'priority': priority, 'publisher_id': publisher_id,
                                       'event_type': event_type, 'payload': payload,
                                       'context': dict(ctxt or {}), 'metadata': dict(metadata or {})},
                                      default=str) + '\n')
            self.out.flush()

    def info(self, ctxt, publisher_id, event_type, payload, metadata):
        self._record('INFO', ctxt, publisher_id, event_type, payload, metadata)

    def warn(self, ctxt, publisher_id, event_type, payload, metadata):
        self._record('WARN', ctxt, publisher_id, event_type, payload, metadata)

    def error(self, ctxt, publisher_id, event_type, payload, metadata):
        self._record('ERROR', ctxt, publisher_id, event_type, payload, metadata)


def main():
    url, exchange, topic, outpath = sys.argv[1:5]
    cfg.CONF([], project='notify-listener')
    messaging.set_transport_defaults(exchange)
    transport = messaging.get_notification_transport(cfg.CONF, url=url)
    with open(outpath, 'a') as out:
        listener = messaging.get_notification_listener(
            transport, [messaging.Target(topic=topic)], [Endpoint(out)], executor='threading')
        listener.start()
        print('READY', flush=True)
        sys.stdin.read()
        listener.stop()
        listener.wait()


if __name__ == '__main__':
    main()
