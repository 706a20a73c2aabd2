"""The command line's way in while the server holds the data directory.

logcore lets one process at a time open a data directory. When ``offsetsite serve``
runs, it writes into the directory's lock file where it listens and where a token for
the command line lies (:func:`advertise_server`); the command line reads that
(:func:`connect_from_lock`) and talks to the server's JSON API through
:class:`RemoteCluster`, which raises the very exceptions the engine raises, so the
command line prints the same messages either way. Only the standard library is used.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import http.client
import json
import os
import secrets
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from logcore.admin import ResetPlan, RestorePoint, RestorePoints, Verification
from logcore.cluster import Cluster, GroupDescription, GroupListing
from logcore.errors import DataDirLocked, KafkaError
from logcore.events import EventBus
from logcore.groups import OffsetAndMetadata, TopicPartition
from logcore.log_manager import LOCK_FILE, TopicDescription, read_lock_info
from logcore.records import Header, Record
from offsetsite.api import serializers as s
from offsetsite.api.errors import exception_from

TOKEN_FILE = ".cli-token"  # noqa: S105 - a file name
CLI_USERNAME = "offsetsite-cli"
DEFAULT_TIMEOUT = 30.0


class ServerUnreachable(KafkaError):
    """The server that holds the data directory did not answer."""

    code = "NETWORK_EXCEPTION"
    retriable = True


def _bytes_in(data: bytes | None) -> dict[str, str] | None:
    return None if data is None else {"base64": base64.b64encode(data).decode("ascii")}


class RemoteCluster(Cluster):
    """``Cluster`` over offsetsite's JSON API (docs/api.md)."""

    def __init__(self, url: str, token: str, *, timeout: float = DEFAULT_TIMEOUT, source: str = "cli") -> None:
        self.url = url.rstrip("/")
        self._token = token
        self.timeout = timeout
        self.source = source
        # Local only: events of this process (a reset's OffsetsReset); the server's own
        # live pages follow the commits it receives.
        self.events = EventBus()
        self._kept = threading.local()  # each thread's kept-alive connection for reads

    def __repr__(self) -> str:  # never show the token
        return f"RemoteCluster({self.url!r})"

    # --- transport ---------------------------------------------------------

    def _call(self, method: str, path: str, query: Mapping[str, Any] | None = None, body: Any = None) -> Any:
        url = f"{self.url}/api/{path}"
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        if method == "GET" and self.url.startswith("http://"):
            return self._get_kept_alive(url)
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - http(s) URL we were given
        request.add_header("Authorization", f"Bearer {self._token}")
        request.add_header("Accept", "application/json")
        request.add_header("X-Offsetsite-Source", self.source)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                raw = response.read()
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                error = json.loads(raw)["error"]
            except (ValueError, KeyError, TypeError):
                raise ServerUnreachable(
                    f"the offsetsite server at {self.url} answered {e.code} {e.reason} without a JSON error"
                ) from None
            raise exception_from(error) from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise ServerUnreachable(f"cannot reach the offsetsite server at {self.url}: {reason}") from None
        return json.loads(raw) if raw else None

    def _get_kept_alive(self, url: str) -> Any:
        """A GET on this thread's kept-alive connection (serve --workers N: the other
        workers' pages read worker 0 through here, several calls a page, and a new TCP
        connection each time cost more than the call). Only reads: a GET whose kept
        connection the server had closed is safely sent again once, on a new one."""
        parts = urllib.parse.urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = {
            "Authorization": f"Bearer {self._token}",
            "Accept": "application/json",
            "X-Offsetsite-Source": self.source,
        }
        for attempt in (0, 1):
            conn: http.client.HTTPConnection | None = getattr(self._kept, "conn", None)
            reused = conn is not None
            if conn is None:
                conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=self.timeout)
                self._kept.conn = conn
            try:
                conn.request("GET", target, headers=headers)
                response = conn.getresponse()
                raw = response.read()
            except (http.client.HTTPException, OSError) as e:
                conn.close()
                self._kept.conn = None
                if reused and attempt == 0:
                    continue
                raise ServerUnreachable(f"cannot reach the offsetsite server at {self.url}: {e}") from None
            if response.will_close:
                conn.close()
                self._kept.conn = None
            if response.status >= 400:
                try:
                    error = json.loads(raw)["error"]
                except (ValueError, KeyError, TypeError):
                    raise ServerUnreachable(
                        f"the offsetsite server at {self.url} answered {response.status} {response.reason} "
                        "without a JSON error"
                    ) from None
                raise exception_from(error) from None
            return json.loads(raw) if raw else None
        raise AssertionError("unreachable")  # the loop returns or raises

    @staticmethod
    def _group_path(group_id: str, suffix: str = "") -> tuple[str, dict[str, str] | None]:
        # Path form when the id fits in one path segment; the ?id= form otherwise.
        if group_id and "/" not in group_id and group_id not in (".", ".."):
            return f"groups/{urllib.parse.quote(group_id, safe='')}{suffix}", None
        return f"group{suffix}", {"id": group_id}

    def _group_call(self, method: str, group_id: str, suffix: str = "", body: Any = None) -> Any:
        path, query = self._group_path(group_id, suffix)
        return self._call(method, path, query, body)

    # --- topics ------------------------------------------------------------

    def describe_topics(self, include_internal: bool = True) -> list[TopicDescription]:
        answer = self._call("GET", "topics", {"internal": "true" if include_internal else "false"})
        return [s.topic_description_from(t) for t in answer["topics"]]

    def list_topics(self, include_internal: bool = True) -> list[str]:
        return [t.name for t in self.describe_topics(include_internal)]

    def describe_topic(self, topic: str) -> TopicDescription:
        return s.topic_description_from(self._call("GET", f"topics/{_seg(topic)}"))

    def create_topic(
        self, topic: str, partitions: int = 1, config: Mapping[str, str] | None = None
    ) -> TopicDescription:
        body = {"name": topic, "partitions": partitions, "config": dict(config or {})}
        return s.topic_description_from(self._call("POST", "topics", body=body))

    def delete_topic(self, topic: str) -> None:
        self._call("DELETE", f"topics/{_seg(topic)}")

    def add_partitions(self, topic: str, total: int) -> TopicDescription:
        return s.topic_description_from(self._call("POST", f"topics/{_seg(topic)}/partitions", body={"total": total}))

    # --- records -----------------------------------------------------------

    def read(self, topic: str, partition: int, offset: int, max_records: int = 500) -> list[Record]:
        answer = self._call(
            "GET", f"topics/{_seg(topic)}/partitions/{int(partition)}/records", {"offset": offset, "limit": max_records}
        )
        return [s.record_from(r) for r in answer["records"]]

    def produce(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: Sequence[Header] = (),
        partition: int | None = None,
        timestamp: int | None = None,
    ) -> tuple[int, int]:
        body = {
            "value": _bytes_in(value),
            "key": _bytes_in(key),
            "headers": [{"key": k, "value": _bytes_in(v)} for k, v in headers],
            "partition": partition,
            "timestamp": timestamp,
        }
        result = self._call("POST", f"topics/{_seg(topic)}/records", body=body)["results"][0]
        return int(result["partition"]), int(result["offset"])

    def _offsets(self, topic: str, partition: int, **query: int) -> dict[str, Any]:
        answer: dict[str, Any] = self._call("GET", f"topics/{_seg(topic)}/partitions/{int(partition)}/offsets", query)
        return answer

    def offset_for_timestamp(self, topic: str, partition: int, timestamp: int) -> int | None:
        found = self._offsets(topic, partition, timestamp=timestamp)["offset"]
        return None if found is None else int(found)

    def watermarks(self, topic: str, partition: int) -> tuple[int, int]:
        answer = self._offsets(topic, partition)
        return int(answer["log_start_offset"]), int(answer["high_watermark"])

    def timestamp_at(self, topic: str, partition: int, offset: int) -> int | None:
        if offset < 0:
            return None
        found = self._offsets(topic, partition, at_offset=offset)["timestamp_at"]
        return None if found is None else int(found)

    # --- groups ------------------------------------------------------------

    def list_groups(self) -> list[GroupListing]:
        return [s.group_listing_from(g) for g in self._call("GET", "groups")["groups"]]

    def describe_group(self, group_id: str) -> GroupDescription:
        return s.group_description_from(self._group_call("GET", group_id))

    def committed_offsets(self, group_id: str) -> dict[TopicPartition, OffsetAndMetadata]:
        answer = self._group_call("GET", group_id, "/offsets")
        return dict(s.committed_from(o) for o in answer["offsets"])

    def commit_offsets(self, group_id: str, offsets: Mapping[TopicPartition, int | OffsetAndMetadata]) -> None:
        rows = []
        for (topic, partition), value in offsets.items():
            if isinstance(value, OffsetAndMetadata):
                rows.append(
                    {"topic": topic, "partition": partition, "offset": value.offset, "metadata": value.metadata}
                )
            else:
                rows.append({"topic": topic, "partition": partition, "offset": int(value)})
        self._group_call("POST", group_id, "/offsets", {"offsets": rows})

    def delete_offsets(self, group_id: str, partitions: Iterable[TopicPartition]) -> list[TopicPartition]:
        body = {"partitions": [{"topic": t, "partition": p} for t, p in partitions]}
        answer = self._group_call("POST", group_id, "/offsets/delete", body)
        return [(d["topic"], int(d["partition"])) for d in answer["deleted"]]

    def delete_group(self, group_id: str) -> None:
        self._group_call("DELETE", group_id)

    # --- resets applied and kept on the server ---------------------------

    def apply_reset(self, plan: ResetPlan) -> Verification:
        """``logcore.admin.execute_reset`` over the API: the server applies exactly the
        plan's targets (checking the group is inactive, keeping the restore point,
        reading the offsets back) in one step, and logs it as a reset."""
        if not plan.rows:
            return Verification(plan.group_id, {}, {}, {})
        body = {
            "scenario": {"kind": plan.scenario.kind, "value": plan.scenario.value},
            "offsets": [{"topic": r.topic, "partition": r.partition, "offset": r.after} for r in plan.rows],
            "execute": True,
        }
        answer = self._group_call("POST", plan.group_id, "/reset", body)
        expected = {(r.topic, r.partition): r.after for r in plan.rows}
        return _verification_from(plan.group_id, answer["verified"], expected)

    def apply_undo(self, group_id: str) -> tuple[RestorePoint, Verification]:
        """``logcore.admin.undo_reset`` over the API (the server's restore points)."""
        answer = self._group_call("POST", group_id, "/reset/undo", {})
        point = s.restore_point_from(answer["restored"])
        expected = {(t, p): v for (t, p), v in ((_unkey(k), v) for k, v in point.offsets.items())}
        return point, _verification_from(group_id, answer["verified"], expected)

    def restore_points(self) -> RestorePoints:
        """The server's undo stack, for ``logcore.admin.execute_reset`` / ``undo_reset``."""
        return RemoteRestorePoints(self)


class RemoteRestorePoints(RestorePoints):
    """Restore points held by the server, so that a reset made from the command line
    can be undone from the web page and the other way round."""

    def __init__(self, cluster: RemoteCluster) -> None:
        super().__init__(None)
        self._remote = cluster

    def push(self, point: RestorePoint) -> None:
        body = s.restore_point(point)
        self._remote._group_call("POST", point.group_id, "/restore-points", body)

    def latest(self, group_id: str) -> RestorePoint | None:
        found = self._remote._group_call("GET", group_id, "/restore-points")["latest"]
        return None if found is None else s.restore_point_from(found)

    def pop(self, group_id: str) -> RestorePoint | None:
        found = self._remote._group_call("POST", group_id, "/restore-points/pop")["popped"]
        return None if found is None else s.restore_point_from(found)


def _unkey(key: str) -> TopicPartition:
    topic, _, p = key.rpartition("\x00")
    return topic, int(p)


def _verification_from(
    group_id: str, verified: Mapping[str, Any], expected: Mapping[TopicPartition, int | None]
) -> Verification:
    rows = {(o["topic"], int(o["partition"])): o for o in verified.get("offsets", [])}
    return Verification(
        group_id,
        {tp: (rows[tp]["before"] if tp in rows else None) for tp in expected},
        dict(expected),
        {tp: (rows[tp]["after"] if tp in rows else None) for tp in expected},
    )


def _seg(name: str) -> str:
    return urllib.parse.quote(name, safe="")


# --- the server side: advertise --------------------------------------------


def _write_private(path: Path, content: str) -> None:
    """Write a file only its owner can read (created 0600, never briefly wider)."""
    tmp = path.with_name(f"{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(content)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def cli_token(data_dir: Path) -> str:
    """The command line's token: reused while it is valid, else a new one (Django must be set up)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from offsetsite.api.models import ApiToken

    path = data_dir / TOKEN_FILE
    with contextlib.suppress(OSError):
        raw = path.read_text().strip()
        token = ApiToken.lookup(raw)
        if token is not None and token.user.get_username() == CLI_USERNAME:
            return raw
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(username=CLI_USERNAME)
    if created:
        user.set_unusable_password()  # no one logs in as the command line
        user.save()
    user.groups.add(Group.objects.get_or_create(name="operator")[0])
    _, raw = ApiToken.issue(user, name=f"command line for {data_dir}")
    _write_private(path, raw + "\n")
    return raw


def advertise_server(url: str) -> None:
    """Tell command-line processes where this server listens (call after the engine opens)."""
    from offsetsite import engine

    cluster = engine.embedded()
    data_dir = Path(cluster.data_dir)
    cli_token(data_dir)
    with engine.locked():
        cluster.logs.advertise(url=url, token_file=str(data_dir / TOKEN_FILE))


# --- the command-line side: connect ------------------------------------------


def _held(data_dir: Path) -> bool:
    """Whether some process holds the data directory's lock now (the file may be stale)."""
    try:
        f = open(data_dir / LOCK_FILE)  # noqa: SIM115 - closed below in every path
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        return False
    finally:
        f.close()


def connect_from_lock(data_dir: Path, *, timeout: float = DEFAULT_TIMEOUT) -> Cluster | None:
    """A RemoteCluster to the server holding ``data_dir``, or None when none advertises.

    None means: nobody holds the directory (open it yourself), or its holder did not
    advertise a server (opening it will then fail with DataDirLocked, naming the pid).
    """
    data_dir = Path(data_dir)
    if not _held(data_dir):
        return None
    info = read_lock_info(data_dir)
    url, token_file = info.get("url"), info.get("token_file")
    if not isinstance(url, str) or not isinstance(token_file, str):
        return None
    try:
        token = Path(token_file).read_text().strip()
    except OSError as e:
        pid = info.get("pid")
        raise DataDirLocked(
            f"data directory {data_dir} is in use by the offsetsite server at {url} (process {pid}), "
            f"but its command-line token {token_file} cannot be read ({e.strerror}); run this command "
            "as the server's user, or use the API with a token of your own",
            pid=pid if isinstance(pid, int) else None,
        ) from None
    return RemoteCluster(url, token, timeout=timeout)
