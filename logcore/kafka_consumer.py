"""``KafkaGroupConsumer``: a member of a consumer group on a real Kafka cluster.

What ``kafka-console-consumer.sh --group G`` is: a confluent-kafka ``Consumer`` with
``group.id=G`` that subscribes (the group's coordinator hands it partitions) or, for
one partition, assigns it without joining. It offers the few methods of
:class:`logcore.consumer.Consumer` that a console client needs (``subscribe``,
``assign``, ``seek``, ``poll``, ``assignment``, ``position``, ``commit``, ``close``),
so the command line drives either backend with one loop.

Positions are this object's own, as in Kafka's Java consumer: when partitions are
assigned, each gets a position at once (its committed offset, else the
``auto.offset.reset`` end), and a record moves it only when ``poll`` returns that
record. So a commit of ``position()`` never covers a record the caller did not get.

The import of confluent_kafka stays inside this module and ``logcore.kafka_cluster``;
the engine modules never need it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from . import errors
from .consumer import ConsumerRecord
from .groups import TopicPartition
from .kafka_cluster import translate
from .kafka_config import KafkaClusterConfig

_log = logging.getLogger(__name__)
_LIBRDKAFKA_LOGGER = logging.getLogger("logcore.kafka_consumer.librdkafka")

# Errors of a commit that mean "the group moved on without this member".
_COMMIT_FAILED = ("ILLEGAL_GENERATION", "UNKNOWN_MEMBER_ID", "REBALANCE_IN_PROGRESS", "FENCED_INSTANCE_ID")
# Consumer errors after which waiting longer would not help.
_FATAL_NAMES = (
    "_ALL_BROKERS_DOWN",
    "_AUTHENTICATION",
    "SASL_AUTHENTICATION_FAILED",
    "TOPIC_AUTHORIZATION_FAILED",
    "GROUP_AUTHORIZATION_FAILED",
    "CLUSTER_AUTHORIZATION_FAILED",
    "UNKNOWN_TOPIC_OR_PART",
    "_UNKNOWN_TOPIC",
    "UNSUPPORTED_VERSION",
    "INVALID_GROUP_ID",
)


class _AsException(Exception):
    """A confluent_kafka.KafkaError shaped like a raised KafkaException for ``translate``."""

    def __init__(self, err: Any) -> None:
        super().__init__(err)


class KafkaGroupConsumer:
    """A console consumer of one group on a Kafka cluster (subscribe, or assign one partition)."""

    def __init__(
        self,
        config: KafkaClusterConfig,
        group_id: str,
        *,
        client_id: str = "console-consumer",
        auto_offset_reset: str = "latest",
    ) -> None:
        from confluent_kafka import Consumer

        if auto_offset_reset not in ("earliest", "latest"):
            raise errors.InvalidConfig(f"auto.offset.reset={auto_offset_reset!r}: use earliest or latest")
        self.group_id = group_id
        self.timeout_s = config.timeout_s
        self._reset = auto_offset_reset
        self._positions: dict[TopicPartition, int] = {}
        self._failure: errors.KafkaError | None = None
        timeout_ms = str(int(config.timeout_s * 1000))
        try:
            self._consumer = Consumer(
                {
                    **config.client_properties(),
                    "group.id": group_id,
                    "client.id": client_id,
                    "enable.auto.commit": "false",
                    "enable.auto.offset.store": "false",
                    "enable.partition.eof": "false",
                    "auto.offset.reset": auto_offset_reset,
                    "socket.connection.setup.timeout.ms": timeout_ms,
                    "socket.timeout.ms": timeout_ms,
                    "reconnect.backoff.max.ms": "2000",
                    "logger": _LIBRDKAFKA_LOGGER,
                    "error_cb": self._on_error,
                }
            )
        except Exception as e:
            raise translate(e, f"consumer of group {group_id}") from None

    def __repr__(self) -> str:
        return f"KafkaGroupConsumer(group_id={self.group_id!r})"

    # --- errors the client reports in the background ------------------------------

    def _on_error(self, err: Any) -> None:
        name = err.name() if hasattr(err, "name") else ""
        if name in _FATAL_NAMES or (hasattr(err, "fatal") and err.fatal()):
            self._failure = translate(_AsException(err), f"consumer of group {self.group_id}")

    def _raise_failure(self) -> None:
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure

    # --- partitions and positions ----------------------------------------------

    def subscribe(self, topics: Iterable[str] | str) -> None:
        names = [topics] if isinstance(topics, str) else list(topics)
        self._consumer.subscribe(names, on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_revoke)

    def _resolve(self, tps: list[Any]) -> list[Any]:
        """Give each confluent TopicPartition a position: committed, else the reset end."""
        committed = self._consumer.committed(tps, timeout=self.timeout_s)
        for tp in committed:
            low, high = self._consumer.get_watermark_offsets(tp, timeout=self.timeout_s, cached=False)
            if tp.offset < 0 or not low <= tp.offset <= high:
                tp.offset = low if self._reset == "earliest" else high
            self._positions[(tp.topic, tp.partition)] = tp.offset
        return list(committed)

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        try:
            consumer.assign(self._resolve(partitions))
        except Exception as e:
            # Exceptions do not cross librdkafka's callback: keep it for poll() to raise.
            self._failure = translate(e, f"position partitions of group {self.group_id}")
            consumer.assign(partitions)

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        for tp in partitions:
            self._positions.pop((tp.topic, tp.partition), None)

    def assign(self, partitions: Iterable[TopicPartition]) -> None:
        """Read these partitions without joining the group (Kafka's ``assign()``)."""
        from confluent_kafka import TopicPartition as CkTP

        self._positions.clear()
        try:
            self._consumer.assign(self._resolve([CkTP(t, p) for t, p in partitions]))
        except errors.KafkaError:
            raise
        except Exception as e:
            raise translate(e, f"assign partitions to group {self.group_id}") from None

    def seek(self, tp: TopicPartition, offset: int) -> None:
        from confluent_kafka import TopicPartition as CkTP

        self._positions[tp] = offset
        self._consumer.assign([CkTP(t, p, o) for (t, p), o in sorted(self._positions.items())])

    def assignment(self) -> list[TopicPartition]:
        """The partitions this consumer holds and has positioned."""
        return sorted(self._positions)

    def position(self, tp: TopicPartition) -> int:
        """The offset of the next record ``poll`` returns from ``tp``."""
        try:
            return self._positions[tp]
        except KeyError:
            raise errors.IllegalState(f"partition {tp[0]}-{tp[1]} is not assigned to this consumer") from None

    # --- records and commits -----------------------------------------------------

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> list[ConsumerRecord]:
        """Up to ``max_records`` records; serves the group protocol (rebalance callbacks)."""
        self._raise_failure()
        try:
            messages = self._consumer.consume(num_messages=max(1, max_records or 500), timeout=timeout_ms / 1000)
        except Exception as e:
            raise translate(e, f"poll for group {self.group_id}") from None
        self._raise_failure()
        out: list[ConsumerRecord] = []
        for m in messages:
            err = m.error()
            if err is not None:
                if err.name() in _FATAL_NAMES or err.fatal():
                    raise translate(_AsException(err), f"fetch for group {self.group_id}")
                _log.info("consumer of group %s: %s", self.group_id, err.str())
                continue
            tp = (m.topic(), m.partition())
            if tp not in self._positions:
                continue  # revoked while the record was on its way
            headers = tuple((k, v) for k, v in (m.headers() or []))
            out.append(ConsumerRecord(tp[0], tp[1], m.offset(), m.timestamp()[1], m.key(), m.value(), headers))
            self._positions[tp] = m.offset() + 1
        return out

    def commit(self, offsets: Mapping[TopicPartition, int] | None = None) -> None:
        """Commit synchronously (default: every position); ``CommitFailed`` after a rebalance."""
        from confluent_kafka import TopicPartition as CkTP

        wanted = dict(self._positions if offsets is None else offsets)
        if not wanted:
            return
        try:
            result = self._consumer.commit(
                offsets=[CkTP(t, p, o) for (t, p), o in sorted(wanted.items())], asynchronous=False
            )
        except Exception as e:
            raise self._commit_error(e) from None
        for tp in result or []:
            if tp.error is not None:
                raise self._commit_error(_AsException(tp.error))

    def _commit_error(self, exc: BaseException) -> errors.KafkaError:
        err: Any = exc.args[0] if exc.args else None
        name = err.name() if hasattr(err, "name") else ""
        if name in _COMMIT_FAILED:
            return errors.CommitFailed(
                f"commit of group {self.group_id} failed: the group rebalanced and handed the partitions "
                f"to another member ({name})"
            )
        return translate(exc, f"commit offsets of group {self.group_id}")

    def close(self, autocommit: bool = False) -> None:
        """Leave the group (committing the positions first when ``autocommit``)."""
        try:
            if autocommit:
                self.commit()
        finally:
            try:
                self._consumer.close()
            except Exception:  # closing a client of an unreachable cluster may fail
                _log.debug("closing the consumer of group %s failed", self.group_id, exc_info=True)
