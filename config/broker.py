"""Celery's broker transport: kombu's Redis transport, with channels that still know the broker's
address after kombu closed their connection (`CELERY_BROKER_TRANSPORT`, issue 18).

What fails in kombu 5.7.0 (celery 5.7.0, redis-py 8.2.0): when a worker loses Redis, celery's
`Consumer.on_connection_error_after_connected` calls `Connection.collect()`, then
`Connection.close()`. In `collect()` the default channel's close stops at once if a BRPOP reply is
still pending (its `_brpop_read` raises the connection error; this happens when the pidbox's
pub/sub socket reported the loss first). `virtual.Transport.close_connection` then closes the
channels last-opened first and stops at the first whose close raises: the pidbox channel,
deleting its auto-delete queue on a Redis that is down. The default channel is left open, and
`Connection._do_close_transport` sets `transport.client = None`. `close()` closes the default
channel again; it gives its unacknowledged messages back (`QoS.restore_unacked`), which needs a
new connection pool, and `Channel._connparams` reads `self.connection.client.hostname`:
AttributeError("'NoneType' object has no attribute 'hostname'"). celery's `ignore_errors` lets
only connection errors through, and the worker stops with "Unrecoverable error". (The same read
failed on another close path in celery/kombu#582. `Transport.supports_batch_publish` also reads
`self.client`, but `transport_options` first, and neither celery nor this project batches.)

Here a channel keeps the connection parameters it was opened with and uses them once its
transport has no client. It then closes as kombu's channels do when closed in the usual order: it
gives its messages back if Redis is reachable and raises a connection error (which celery ignores)
if it is not, and the messages the pool still runs are acknowledged later through it. The
subclass can be dropped once kombu no longer reads `transport.client` when closing a channel its
Connection left open: tests/config/test_broker.py's test of kombu's own transport then fails.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis


class Channel(redis.Channel):
    """kombu's Redis channel; it can reach the broker after `transport.client` was dropped."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # What _connparams derives from transport.client, taken while the client is there.
        self._opened_with = {
            False: super()._connparams(asynchronous=False),
            True: super()._connparams(asynchronous=True),
        }

    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        if getattr(self.connection, "client", None) is None:
            return dict(self._opened_with[asynchronous])
        return super()._connparams(asynchronous=asynchronous)


class Transport(redis.Transport):
    """kombu's Redis transport with `Channel` above; selected by `CELERY_BROKER_TRANSPORT`."""

    Channel = Channel
