"""The listener: an asyncio TCP server in its own thread, speaking Kafka's protocol.

Requests on one connection are answered one at a time and in order, as a Kafka
broker does (it mutes a channel until the response of its current request is sent;
``SocketServer.scala``): a client that pipelines waits in its socket buffer, which
is what bounds one connection's memory to one request. Every frame's size is
checked before its body is read: larger than ``max_request_bytes`` (Kafka's
``socket.request.max.bytes``, 100 MiB) closes that connection; and the bodies being
handled across all connections together stay under ``max_inflight_bytes`` (a new
frame waits for room).

With ``sasl_users`` the listener is Kafka's SASL_PLAINTEXT with the PLAIN mechanism
(``sasl.py``): a connection must log in before any request but ApiVersions, and
until it has, a frame over 512 KiB closes it.

A frame that cannot be parsed, an API this server does not list, or a version
outside the listed range closes that connection only, as Kafka does for requests
it cannot read; ApiVersions of a newer version is answered with UNSUPPORTED_VERSION
and the supported list in v0 form (KIP-511), so a client can retry lower.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import struct
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from .handlers import SUPPORTED, Broker, Caller
from .protocol import API_VERSIONS, FrameError, encode_response, is_flexible, read_body, read_header
from .sasl import FAILED_AUTHENTICATION_DELAY_S, FailedLogins, PlainUsers, SaslConnection

if TYPE_CHECKING:
    from ..cluster import EmbeddedCluster

_log = logging.getLogger(__name__)
_SIZE = struct.Struct(">i")
_KEY_VERSION = struct.Struct(">hhi")
MAX_REQUEST_BYTES = 100 * 1024 * 1024
MAX_INFLIGHT_BYTES = 256 * 1024 * 1024
MAX_CONNECTIONS = 1000
DEFAULT_PORT = 9092


class _ByteBudget:
    """At most ``limit`` bytes of request bodies held at once, across connections."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._cond = asyncio.Condition()

    async def take(self, n: int) -> None:
        async with self._cond:
            await self._cond.wait_for(lambda: self.used + n <= self.limit)
            self.used += n

    async def give(self, n: int) -> None:
        async with self._cond:
            self.used -= n
            self._cond.notify_all()


def parse_listener(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6) as a (host, port); ValueError says what is wrong."""
    value = text.strip()
    host, sep, port_text = value.rpartition(":")
    if not sep or not host:
        raise ValueError(f"{text!r} is not HOST:PORT (for example 127.0.0.1:9092)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"the port of {text!r} is not a number: use 0 to 65535") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"the port of {text!r} is {port}: use 0 to 65535")
    return host, port


class KafkaListener:
    """Serve Kafka clients on ``host:port`` from ``cluster``, holding ``lock`` per engine call."""

    def __init__(
        self,
        cluster: EmbeddedCluster,
        lock: AbstractContextManager[Any],
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        *,
        advertised_host: str | None = None,
        max_request_bytes: int = MAX_REQUEST_BYTES,
        max_inflight_bytes: int = MAX_INFLIGHT_BYTES,
        max_connections: int = MAX_CONNECTIONS,
        auto_create_topics: bool = True,
        on_connection_error: Callable[[str], None] | None = None,
        sasl_users: PlainUsers | None = None,
    ) -> None:
        if max_request_bytes > max_inflight_bytes:
            raise ValueError("max_request_bytes must not exceed max_inflight_bytes")
        self.host = host
        self.port = port
        self.max_request_bytes = max_request_bytes
        self.max_inflight_bytes = max_inflight_bytes
        self.max_connections = max_connections
        self.sasl_users = sasl_users
        self.failed_logins = FailedLogins()
        self.broker = Broker(
            cluster, lock, host=advertised_host or host, port=port, auto_create_topics=auto_create_topics
        )
        self._advertised_host = advertised_host
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._budget: _ByteBudget | None = None
        self.connections = 0
        self.closed_for_errors = 0
        self._on_connection_error = on_connection_error

    # --- life cycle --------------------------------------------------------------

    def start(self) -> tuple[str, int]:
        """Bind and serve in a daemon thread; returns the bound (host, port). Raises OSError."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._open())
            except BaseException as e:
                failure.append(e)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self._close())
                loop.close()

        self._thread = threading.Thread(target=run, name="kafka-listener", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]
        return self.host, self.port

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        self._budget = _ByteBudget(self.max_inflight_bytes)
        self._server = await asyncio.start_server(self._connection, self.host, self.port, reuse_address=True)
        sock = self._server.sockets[0]
        self.port = sock.getsockname()[1]
        self.broker.port = self.port
        if self._advertised_host is None and self.host in ("", "0.0.0.0", "::"):  # noqa: S104 - compared
            self.broker.host = "127.0.0.1"
            self.broker.advertise_local = True
        self.broker.attach(loop)

    async def _close(self) -> None:
        self.broker.detach()
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        self._thread = None
        self._loop = None

    # --- connections -------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if len(self._tasks) >= self.max_connections:
            _log.warning("kafka listener: %d connections already open; refusing another", len(self._tasks))
            writer.close()
            return
        self._tasks.add(task)
        self.connections += 1
        peer = writer.get_extra_info("peername")
        host = f"/{peer[0]}" if isinstance(peer, tuple) else "/unknown"
        sock = writer.get_extra_info("sockname")
        local = str(sock[0]) if isinstance(sock, tuple) else ""
        try:
            await self._serve(reader, writer, host, local)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client went away
        except asyncio.CancelledError:
            pass
        except FrameError as e:
            self._refuse(host, str(e))
        except Exception:
            self.closed_for_errors += 1
            _log.exception("kafka listener: a request from %s failed; closing that connection", host)
        finally:
            # Still in _tasks while the socket closes: a stop() meanwhile waits for this
            # task instead of closing the loop under it ("Task was destroyed but it is
            # pending" when a client had just hung up). A stop() cancels that wait: the
            # task still ends normally, since Python 3.11's asyncio.streams logs
            # "Exception in callback" for a connection task that ends cancelled.
            try:
                writer.close()
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await writer.wait_closed()
            finally:
                self._tasks.discard(task)

    def _refuse(self, host: str, why: str) -> None:
        self.closed_for_errors += 1
        _log.warning("kafka listener: closing the connection from %s: %s", host, why)
        if self._on_connection_error is not None:
            self._on_connection_error(why)

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, local: str = ""
    ) -> None:
        budget = self._budget
        assert budget is not None
        sasl = SaslConnection(self.sasl_users, host, self.failed_logins) if self.sasl_users is not None else None
        while True:
            (size,) = _SIZE.unpack(await reader.readexactly(4))
            if size < 8 and not (sasl is not None and sasl.expects_raw_token):
                raise FrameError(f"a request frame of {size} bytes cannot hold a request header")
            if size > self.max_request_bytes:
                raise FrameError(
                    f"a request of {size} bytes is larger than the {self.max_request_bytes} bytes this "
                    "listener accepts (socket.request.max.bytes)"
                )
            if sasl is not None and not sasl.authenticated and size > sasl.max_frame_bytes:
                raise FrameError(
                    f"a frame of {size} bytes before SASL authentication (at most {sasl.max_frame_bytes}, "
                    "Kafka's sasl.server.max.receive.size): is the client using SASL_PLAINTEXT?"
                )
            await budget.take(size)
            try:
                frame = await reader.readexactly(size)
                response = await self.handle(frame, host, local, sasl)
                del frame
            finally:
                await budget.give(size)
            if sasl is not None and sasl.close_after_response:
                # A failed login (logged by sasl.FailedLogins) or an unknown mechanism:
                # answered late, then closed, as Kafka does (KIP-306, KIP-152).
                await asyncio.sleep(FAILED_AUTHENTICATION_DELAY_S)
                if response is not None:
                    writer.write(response)
                    await writer.drain()
                self.closed_for_errors += 1
                return
            if response is not None:
                writer.write(response)
                await writer.drain()

    async def handle(
        self, frame: bytes, host: str, local: str = "", sasl: SaslConnection | None = None
    ) -> bytes | None:
        """One request frame (without its size prefix) to its response frame (None: no answer).

        ``sasl``: the connection's SASL progress when the listener needs SASL.
        """
        if sasl is not None and sasl.expects_raw_token:
            return sasl.raw_token(frame)
        if len(frame) < 8:
            raise FrameError(f"a request frame of {len(frame)} bytes cannot hold a request header")
        api_key, version, correlation_id = _KEY_VERSION.unpack_from(frame, 0)
        in_sasl = sasl is not None and not sasl.authenticated
        if sasl is not None and in_sasl:
            sasl.admit(api_key)  # anything but the SASL exchange closes the connection
        span = SUPPORTED.get(api_key)
        if span is None:
            raise FrameError(f"API key {api_key} is not supported by this listener (see ApiVersions)")
        lo, hi = span
        if not lo <= version <= hi:
            if api_key == API_VERSIONS:
                # KIP-511: answer with v0 framing, UNSUPPORTED_VERSION and our versions.
                body = self.broker.api_versions(0, None, Caller("", host), error=35)
                return encode_response(API_VERSIONS, 0, correlation_id, body)
            raise FrameError(f"API key {api_key} version {version} is not supported: this listener takes {lo} to {hi}")
        header = read_header(frame, is_flexible(api_key, version))
        request = read_body(api_key, version, frame, header.body_offset)
        handler = self.broker.handlers[api_key]
        if sasl is not None and in_sasl and api_key != API_VERSIONS:
            handler = functools.partial(self._sasl_step, sasl, api_key)
        try:
            result = handler(version, request, Caller(header.client_id or "", host, local))
            if inspect.isawaitable(result):
                result = await result
        except TypeError as e:
            # kio reads a null (-1 or compact 0) array or string even where Kafka's schema
            # says it cannot be null; the handler then trips over None. Such a request is
            # malformed: Kafka's own parser refuses it the same way.
            raise FrameError(f"API key {api_key} v{version}: a field is null where a value is required ({e})") from None
        if api_key == 0 and request.acks == 0:
            return None  # acks=0: Kafka sends no response at all
        return encode_response(api_key, version, correlation_id, result)

    @staticmethod
    def _sasl_step(sasl: SaslConnection, api_key: int, version: int, request: Any, client: Caller) -> Any:
        return sasl.handle(api_key, version, request)
