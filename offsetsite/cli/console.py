"""``offsetsite topics | produce | consume``: kafka-topics.sh and the console clients.

Flags, properties and output lines follow Kafka's ``TopicCommand``, ``ConsoleProducer``
(``LineMessageReader``) and ``ConsoleConsumer`` (``DefaultMessageFormatter``), so a
script written against one works against the other. Where Kafka waits forever (the
console consumer), this one stops when it has caught up, unless ``--timeout-ms`` asks
it to keep waiting for new records.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO, TypeAlias

from logcore.config import ALLOWED_KEYS, TopicConfig
from logcore.consumer import Consumer
from logcore.errors import CommitFailed, InvalidRequest, KafkaError
from logcore.groups import TopicPartition
from logcore.records import Header

from .text import UsageError, printable

if TYPE_CHECKING:
    from logcore.cluster import Cluster
    from logcore.kafka_consumer import KafkaGroupConsumer

    from .context import Opened

    # A group member of either backend: the engine's Consumer, or a Kafka cluster's.
    GroupMember: TypeAlias = Consumer | KafkaGroupConsumer

SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

# How long `consume --group` waits for the group to hand it partitions. A group
# restored with members of a stopped process waits for them to expire first.
JOIN_WAIT_S = 60.0
POLL_SLEEP_S = 0.05
FETCH_MAX = 500


def _split_pair(text: str, what: str, allowed: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise UsageError(f"invalid {what} {text!r}: expected key=value; {allowed}")
    return key, value


# --- topics ------------------------------------------------------------------------


def add_topics_parser(sub: SubParsers) -> None:
    p = sub.add_parser(
        "topics",
        help="create, list, describe, alter and delete topics (kafka-topics.sh)",
        description="Topic administration with the flags and output of kafka-topics.sh.",
    )
    action = p.add_mutually_exclusive_group(required=True)
    action.add_argument("--create", action="store_true", help="create a topic")
    action.add_argument("--list", action="store_true", help="list topic names")
    action.add_argument("--describe", action="store_true", help="describe one topic or all")
    action.add_argument("--alter", action="store_true", help="add partitions to a topic")
    action.add_argument("--delete", action="store_true", help="delete a topic")
    action.add_argument(
        "--offsets",
        action="store_true",
        help="print topic:partition:offset per partition (GetOffsetShell); see --time",
    )
    p.add_argument("--topic", help="the topic")
    p.add_argument("--partitions", type=int, help="partition count (create: default 1; alter: new total)")
    p.add_argument("--replication-factor", type=int, default=None, help="accepted for compatibility; only 1 exists")
    p.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"topic setting for --create (repeatable); keys: {', '.join(ALLOWED_KEYS)}",
    )
    p.add_argument("--if-not-exists", action="store_true", help="--create: no error if the topic exists")
    p.add_argument("--if-exists", action="store_true", help="--alter/--delete/--describe: no error if absent")
    p.add_argument("--exclude-internal", action="store_true", help="leave out __consumer_offsets")
    p.add_argument(
        "--time",
        default="latest",
        help="--offsets: latest or -1 (high watermark, default), earliest or -2 (log start), "
        "or a timestamp in ms (first offset at or after it)",
    )
    p.set_defaults(engine_handler=run_topics)


def _parse_configs(items: Sequence[str]) -> dict[str, str]:
    allowed = f"allowed keys: {', '.join(ALLOWED_KEYS)}"
    configs = dict(_split_pair(item, "--config", allowed) for item in items)
    TopicConfig.from_dict(configs)  # refuse a bad key or value before anything is created
    return configs


def _need_topic(args: argparse.Namespace, action: str) -> str:
    if not args.topic:
        raise UsageError(f"--{action} needs --topic T")
    return str(args.topic)


def describe_lines(cluster: Cluster, topic: str) -> list[str]:
    """kafka-topics.sh --describe for one topic.

    Kafka prints ``TopicId`` only for topics that have one; logcore keeps no topic ids
    (like a topic created before KIP-516), so the field is left out as Kafka does.
    """
    d = cluster.describe_topic(topic)
    defaults = TopicConfig().to_dict()
    configs = ",".join(f"{k}={v}" for k, v in d.config.items() if defaults.get(k) != v)
    lines = [f"Topic: {d.name}\tPartitionCount: {len(d.partitions)}\tReplicationFactor: 1\tConfigs: {configs}"]
    lines += [f"\tTopic: {d.name}\tPartition: {p.partition}\tLeader: 0\tReplicas: 0\tIsr: 0" for p in d.partitions]
    return lines


def _offset_at(cluster: Cluster, topic: str, partition: int, time_spec: str) -> int | None:
    start, hw = cluster.watermarks(topic, partition)
    if time_spec in ("latest", "-1"):
        return hw
    if time_spec in ("earliest", "-2"):
        return start
    try:
        ts = int(time_spec)
    except ValueError:
        raise UsageError(
            f"--time {time_spec!r} is not valid; use latest (-1), earliest (-2) or a timestamp in ms"
        ) from None
    if ts < 0:
        raise UsageError(f"--time {ts}: a timestamp must be >= 0, or -1 (latest) or -2 (earliest)")
    return cluster.offset_for_timestamp(topic, partition, ts)


def run_topics(opened: Opened, args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        return _topics(opened.cluster, args, out)
    except UsageError as e:
        print(f"Error while executing topic command : {e}", file=sys.stderr)
        return 2
    except KafkaError as e:
        print(f"Error while executing topic command : {e}", file=sys.stderr)
        return 1


def _topics(cluster: Cluster, args: argparse.Namespace, out: TextIO) -> int:
    if args.replication_factor is not None and args.replication_factor != 1:
        raise InvalidRequest(
            f"--replication-factor {args.replication_factor}: this engine has one broker, "
            "so the only replication factor is 1"
        )
    if args.config and not args.create:
        raise UsageError("--config is only accepted with --create")
    if args.list:
        for name in cluster.list_topics(include_internal=not args.exclude_internal):
            print(name, file=out)
        return 0
    if args.describe:
        topics = [args.topic] if args.topic else cluster.list_topics(include_internal=not args.exclude_internal)
        for t in topics:
            if args.if_exists and args.topic and t not in cluster.list_topics():
                return 0
            print("\n".join(describe_lines(cluster, t)), file=out)
        return 0
    if args.offsets:
        topics = [args.topic] if args.topic else cluster.list_topics(include_internal=not args.exclude_internal)
        for t in topics:
            for p in cluster.describe_topic(t).partitions:
                offset = _offset_at(cluster, t, p.partition, str(args.time))
                print(f"{t}:{p.partition}:{'' if offset is None else offset}", file=out)
        return 0
    if args.create:
        topic = _need_topic(args, "create")
        partitions = 1 if args.partitions is None else args.partitions
        configs = _parse_configs(args.config)
        if args.if_not_exists and topic in cluster.list_topics():
            return 0
        cluster.create_topic(topic, partitions, configs)
        print(f"Created topic {topic}.", file=out)
        return 0
    if args.alter:
        topic = _need_topic(args, "alter")
        if args.partitions is None:
            raise UsageError("--alter needs --partitions N (the new total; partitions are only added)")
        if args.if_exists and topic not in cluster.list_topics():
            return 0
        cluster.add_partitions(topic, args.partitions)
        # What Kafka's tool said for years: keys move when the partition count changes.
        print(
            "WARNING: If partitions are increased for a topic that has a key, the partition logic "
            "or ordering of the messages will be affected",
            file=out,
        )
        print("Adding partitions succeeded!", file=out)
        return 0
    topic = _need_topic(args, "delete")
    if args.if_exists and topic not in cluster.list_topics():
        return 0
    cluster.delete_topic(topic)  # silent on success, as kafka-topics.sh --delete
    return 0


# --- produce -----------------------------------------------------------------------

PRODUCER_PROPERTIES = {
    "parse.key": "false",
    "key.separator": "\t",
    "parse.headers": "false",
    "headers.delimiter": "\t",
    "headers.separator": ",",
    "headers.key.separator": ":",
    "ignore.error": "false",
    "null.marker": "",
}


def add_produce_parser(sub: SubParsers) -> None:
    p = sub.add_parser(
        "produce",
        help="append records: one --value, or one per line of stdin (kafka-console-producer.sh)",
        description="Append records. With --value, one record; otherwise one record per line of "
        "standard input, split by the LineMessageReader properties of kafka-console-producer.sh: "
        "parse.key, key.separator (default TAB), parse.headers, headers.delimiter (TAB), "
        "headers.separator (,), headers.key.separator (:), ignore.error, null.marker.",
    )
    p.add_argument("--topic", required=True, help="the topic")
    p.add_argument("--partition", type=int, help="this partition instead of the partitioner's choice")
    p.add_argument("--key", help="record key (default: null, placed by the sticky partitioner)")
    p.add_argument("--header", action="append", default=[], metavar="KEY=VALUE", help="header (repeatable)")
    p.add_argument("--timestamp", type=int, help="CreateTime in ms since the epoch (default: now)")
    p.add_argument("--value", help="the value of one record; without it, read lines from stdin")
    p.add_argument("--property", action="append", default=[], metavar="KEY=VALUE", help="reader property")
    p.add_argument(
        "--print-metadata",
        action="store_true",
        help="print topic:partition:offset of every record appended (Kafka's tool prints nothing)",
    )
    p.set_defaults(engine_handler=run_produce)


def _bool_property(props: dict[str, str], key: str) -> bool:
    value = props[key].strip().lower()
    if value not in ("true", "false"):
        raise UsageError(f"property {key}={props[key]!r} is not valid; use true or false")
    return value == "true"


def _properties(items: Sequence[str], defaults: dict[str, str], what: str) -> dict[str, str]:
    allowed = f"allowed {what} properties: {', '.join(defaults)}"
    props = dict(defaults)
    for item in items:
        key, value = _split_pair(item, "--property", allowed)
        if key not in defaults:
            raise UsageError(f"unknown {what} property {key!r}; {allowed}")
        props[key] = value
    return props


@dataclass(frozen=True)
class LineReader:
    """Kafka's ``LineMessageReader``: ``[headers<TAB>][key<TAB>]value`` per line."""

    parse_key: bool
    key_separator: str
    parse_headers: bool
    headers_delimiter: str
    headers_separator: str
    headers_key_separator: str
    ignore_error: bool
    null_marker: str | None

    @classmethod
    def from_properties(cls, props: dict[str, str]) -> LineReader:
        for key in ("key.separator", "headers.delimiter", "headers.separator", "headers.key.separator"):
            if not props[key]:
                raise UsageError(f"property {key} cannot be empty")
        return cls(
            _bool_property(props, "parse.key"),
            props["key.separator"],
            _bool_property(props, "parse.headers"),
            props["headers.delimiter"],
            props["headers.separator"],
            props["headers.key.separator"],
            _bool_property(props, "ignore.error"),
            props["null.marker"] or None,
        )

    def _nullable(self, text: str) -> bytes | None:
        return None if self.null_marker is not None and text == self.null_marker else text.encode()

    def parse(self, line: str, number: int) -> tuple[list[Header], bytes | None, bytes | None]:
        """(headers, key, value) of one line; ``number`` counts from 1 for messages."""
        headers: list[Header] = []
        rest = line
        if self.parse_headers:
            head, sep, tail = rest.partition(self.headers_delimiter)
            if not sep:
                if not self.ignore_error:
                    raise InvalidRequest(
                        f"No headers delimiter found on line number {number}: {line!r} "
                        f"(parse.headers=true expects headers{self.headers_delimiter!r}...)"
                    )
                head, tail = "", rest
            rest = tail
            for pair in head.split(self.headers_separator) if head else []:
                k, ksep, v = pair.partition(self.headers_key_separator)
                if not ksep:
                    raise InvalidRequest(
                        f"No header key separator found in pair {pair!r} on line number {number} "
                        f"(expected key{self.headers_key_separator}value)"
                    )
                if self.null_marker is not None and k == self.null_marker:
                    raise InvalidRequest(
                        f"Header keys should not be equal to the null marker {self.null_marker!r} as they can't be null"
                    )
                headers.append((k, self._nullable(v)))
        key: bytes | None = None
        if self.parse_key:
            k, sep, value = rest.partition(self.key_separator)
            if not sep:
                if not self.ignore_error:
                    raise InvalidRequest(
                        f"No key separator found on line number {number}: {line!r} "
                        f"(parse.key=true expects key{self.key_separator!r}value)"
                    )
                return headers, None, self._nullable(rest)
            key, rest = self._nullable(k), value
        return headers, key, self._nullable(rest)


def run_produce(opened: Opened, args: argparse.Namespace, stdin: TextIO | None = None) -> int:
    cluster = opened.cluster
    props = _properties(args.property, PRODUCER_PROPERTIES, "producer")
    reader = LineReader.from_properties(props)
    fixed_headers: list[Header] = []
    for item in args.header:
        k, v = _split_pair(item, "--header", "headers are key=value")
        fixed_headers.append((k, v.encode()))
    if args.timestamp is not None and args.timestamp < 0:
        raise UsageError(f"--timestamp {args.timestamp}: expected milliseconds since the epoch (>= 0)")
    if args.value is not None and (reader.parse_key or reader.parse_headers):
        raise UsageError("parse.key and parse.headers apply to lines of stdin; with --value use --key/--header")
    if args.key is not None and reader.parse_key:
        raise UsageError("choose either --key or --property parse.key=true, not both")
    _check_target(cluster, args.topic, args.partition)
    fixed_key = None if args.key is None else args.key.encode()

    def send(headers: list[Header], key: bytes | None, value: bytes | None) -> None:
        p, offset = cluster.produce(args.topic, value, key, [*fixed_headers, *headers], args.partition, args.timestamp)
        if args.print_metadata:
            print(f"{args.topic}:{p}:{offset}", flush=True)

    if args.value is not None:
        send([], fixed_key, args.value.encode())
        return 0
    source = stdin or sys.stdin
    # Line by line as they arrive, as kafka-console-producer.sh sends them: an endless
    # pipe (tail -f ... | offsetsite produce) keeps producing. A line that cannot be sent
    # stops the command, which says exactly which lines were written before it.
    parsed: Iterator[tuple[list[Header], bytes | None, bytes | None]] = (
        reader.parse(line, number) for number, line in _stdin_lines(source)
    )
    written = 0
    try:
        for headers, key, value in parsed:
            send(headers, key if reader.parse_key else fixed_key, value)
            written += 1
    except KafkaError:
        if written:
            print(f"Note: lines 1 to {written} of stdin were written; none after them.", file=sys.stderr)
        raise
    return 0


def _stdin_lines(stream: TextIO) -> Iterator[tuple[int, str]]:
    """Numbered lines of stdin without their line ends, refusing bytes that are not UTF-8."""
    # The bytes under a text stream: a strict decoder would raise mid-iteration, and
    # surrogateescape (a C locale) would hand over characters no record can hold.
    binary = getattr(stream, "buffer", None)
    source: Iterable[str | bytes] = binary if binary is not None else stream
    for number, chunk in enumerate(source, 1):
        try:
            raw = chunk.decode("utf-8") if isinstance(chunk, bytes) else chunk
            raw.encode("utf-8")
        except (UnicodeDecodeError, UnicodeEncodeError) as e:
            if isinstance(chunk, bytes):
                shown = f"byte 0x{chunk[e.start]:02x} at byte {e.start + 1}"
            else:  # surrogateescape (or a lone surrogate): the byte that is not UTF-8
                char = ord(chunk[e.start])
                what = f"byte 0x{char - 0xDC00:02x}" if 0xDC80 <= char <= 0xDCFF else f"U+{char:04X}"
                shown = f"{what} at character {e.start + 1}"
            raise InvalidRequest(
                f"line {number} of stdin is not UTF-8 text: {shown}; it was not written (records are UTF-8 lines)"
            ) from None
        line = raw[:-1] if raw.endswith("\n") else raw
        yield number, line[:-1] if line.endswith("\r") else line


def _check_target(cluster: Cluster, topic: str, partition: int | None) -> None:
    """Fail before reading stdin when the topic or partition does not exist."""
    if topic not in cluster.list_topics():
        raise InvalidRequest(
            f"Topic '{topic}' does not exist; create it first: "
            f"offsetsite topics --create --topic {topic} --partitions N"
        )
    if partition is not None:
        cluster.watermarks(topic, partition)  # names the valid partitions when out of range


# --- consume -----------------------------------------------------------------------

FORMATTER_PROPERTIES = {
    "print.timestamp": "false",
    "print.key": "false",
    "print.offset": "false",
    "print.partition": "false",
    "print.headers": "false",
    "print.value": "true",
    "key.separator": "\t",
    "line.separator": "\n",
    "headers.separator": ",",
    "headers.key.separator": ":",
    "null.literal": "null",
}


def add_consume_parser(sub: SubParsers) -> None:
    p = sub.add_parser(
        "consume",
        help="print records (kafka-console-consumer.sh); --group joins a consumer group",
        description="Print records as kafka-console-consumer.sh's DefaultMessageFormatter does. "
        "Unlike Kafka's tool it stops once it has caught up with the high watermark, unless "
        "--timeout-ms keeps it waiting for new records, and it always prints "
        "'Processed a total of N messages' to stderr.",
    )
    p.add_argument("--topic", required=True, help="the topic")
    p.add_argument("--partition", type=int, help="only this partition")
    p.add_argument("--offset", help="with --partition: a number, earliest or latest (default latest)")
    p.add_argument(
        "--from-beginning",
        action="store_true",
        help="start at the log start (with --group: only partitions with no committed offset)",
    )
    p.add_argument("--max-messages", type=int, help="stop after this many records")
    p.add_argument(
        "--timeout-ms",
        type=int,
        help="keep waiting for new records; exit after this many ms without one (default: exit as soon as caught up)",
    )
    p.add_argument("--group", help="consume as a member of this group, committing after each poll")
    p.add_argument("--no-commit", action="store_true", help="with --group: read without committing")
    p.add_argument("--property", action="append", default=[], metavar="KEY=VALUE", help="formatter property")
    p.set_defaults(engine_handler=run_consume)


@dataclass(frozen=True)
class MessageFormatter:
    """Kafka's ``DefaultMessageFormatter``: the columns it prints, in its order."""

    print_timestamp: bool = False
    print_partition: bool = False
    print_offset: bool = False
    print_headers: bool = False
    print_key: bool = False
    print_value: bool = True
    key_separator: str = "\t"
    line_separator: str = "\n"
    headers_separator: str = ","
    headers_key_separator: str = ":"
    null_literal: str = "null"

    @classmethod
    def from_properties(cls, props: dict[str, str]) -> MessageFormatter:
        return cls(
            print_timestamp=_bool_property(props, "print.timestamp"),
            print_partition=_bool_property(props, "print.partition"),
            print_offset=_bool_property(props, "print.offset"),
            print_headers=_bool_property(props, "print.headers"),
            print_key=_bool_property(props, "print.key"),
            print_value=_bool_property(props, "print.value"),
            key_separator=props["key.separator"],
            line_separator=props["line.separator"],
            headers_separator=props["headers.separator"],
            headers_key_separator=props["headers.key.separator"],
            null_literal=props["null.literal"],
        )

    def _text(self, data: bytes | None) -> str:
        return self.null_literal if data is None else data.decode("utf-8", errors="replace")

    def format(
        self,
        partition: int,
        offset: int,
        timestamp: int,
        key: bytes | None,
        value: bytes | None,
        headers: Iterable[Header],
        timestamp_type: str = "CreateTime",
    ) -> str:
        columns: list[str] = []
        if self.print_timestamp:
            columns.append(f"{timestamp_type}:{timestamp}")
        if self.print_partition:
            columns.append(f"Partition:{partition}")
        if self.print_offset:
            columns.append(f"Offset:{offset}")
        if self.print_headers:
            pairs = [f"{k}{self.headers_key_separator}{self._text(v)}" for k, v in headers]
            columns.append(self.headers_separator.join(pairs) if pairs else "NO_HEADERS")
        if self.print_key:
            columns.append(self._text(key))
        if self.print_value:
            columns.append(self._text(value))
        if not columns:
            return ""
        return self.key_separator.join(columns) + self.line_separator


@dataclass(frozen=True)
class _ConsumeOptions:
    topic: str
    partitions: list[int]
    formatter: MessageFormatter
    timestamp_type: str
    max_messages: int | None
    timeout_ms: int | None


def _check_consume_args(args: argparse.Namespace) -> None:
    if args.offset is not None and args.partition is None:
        raise UsageError("The partition is required when offset is specified (--partition P --offset O).")
    if args.offset is not None and args.from_beginning:
        raise UsageError("Options from-beginning and offset cannot be specified together.")
    if args.no_commit and not args.group:
        raise UsageError("--no-commit only makes sense with --group G")
    if args.max_messages is not None and args.max_messages < 1:
        raise UsageError(f"--max-messages {args.max_messages}: expected a number >= 1")
    if args.timeout_ms is not None and args.timeout_ms < 0:
        raise UsageError(f"--timeout-ms {args.timeout_ms}: expected a number of ms >= 0")
    if args.offset is not None and args.offset not in ("earliest", "latest"):
        try:
            if int(args.offset) < 0:
                raise ValueError
        except ValueError:
            raise UsageError(f"--offset {args.offset!r} is not valid; use a number >= 0, earliest or latest") from None


def run_consume(opened: Opened, args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    _check_consume_args(args)
    formatter = MessageFormatter.from_properties(_properties(args.property, FORMATTER_PROPERTIES, "formatter"))
    cluster = opened.cluster
    if args.topic not in cluster.list_topics():
        raise InvalidRequest(f"Topic '{args.topic}' does not exist; see: offsetsite topics --list")
    described = cluster.describe_topic(args.topic)
    if args.partition is not None:
        cluster.watermarks(args.topic, args.partition)  # names the valid partitions when out of range
    options = _ConsumeOptions(
        args.topic,
        [args.partition] if args.partition is not None else [p.partition for p in described.partitions],
        formatter,
        described.config.get("message.timestamp.type", "CreateTime"),
        args.max_messages,
        args.timeout_ms,
    )
    printed = [0]

    def emit(
        partition: int, offset: int, timestamp: int, key: bytes | None, value: bytes | None, headers: Iterable[Header]
    ) -> None:
        out.write(options.formatter.format(partition, offset, timestamp, key, value, headers, options.timestamp_type))
        printed[0] += 1

    try:
        if args.group and (opened.embedded is not None or opened.kafka is not None):
            _consume_as_member(opened, args, options, emit, printed)
        else:
            if args.group:
                print(
                    f"Note: the data directory is held by another process; reading as a standalone "
                    f"client that commits for group '{printable(args.group)}' (it does not join the group).",
                    file=sys.stderr,
                )
            _consume_direct(cluster, args, options, emit, printed)
    finally:
        out.flush()
        print(f"Processed a total of {printed[0]} messages", file=sys.stderr)
    return 0


Emit = Callable[[int, int, int, "bytes | None", "bytes | None", Iterable[Header]], None]


def _start_offset(cluster: Cluster, args: argparse.Namespace, topic: str, partition: int) -> int:
    start, hw = cluster.watermarks(topic, partition)
    if args.offset is not None:
        if args.offset == "earliest":
            return start
        if args.offset == "latest":
            return hw
        return int(args.offset)
    if args.group:
        committed = cluster.committed_offsets(args.group).get((topic, partition))
        if committed is not None:
            return committed.offset
    return start if args.from_beginning else hw


def _consume_direct(
    cluster: Cluster, args: argparse.Namespace, options: _ConsumeOptions, emit: Emit, printed: list[int]
) -> None:
    """Read partitions in turn from their start offsets (no group membership).

    With ``--group``, commits the position of every partition it reads, as the member
    path does (and as Kafka's consumer positions every assigned partition): also those
    that returned nothing, so the group exists and shows each partition's lag.
    """
    positions = {p: _start_offset(cluster, args, options.topic, p) for p in options.partitions}

    def commit() -> None:
        if args.group and not args.no_commit:
            cluster.commit_offsets(args.group, {(options.topic, p): o for p, o in positions.items()})

    _read_direct(cluster, options, emit, printed, positions, commit)
    commit()


def _read_direct(
    cluster: Cluster,
    options: _ConsumeOptions,
    emit: Emit,
    printed: list[int],
    positions: dict[int, int],
    commit: Callable[[], None],
) -> None:
    last_record = time.monotonic()
    while True:
        got = 0
        for p in options.partitions:
            room = FETCH_MAX if options.max_messages is None else options.max_messages - printed[0]
            if room <= 0:
                break
            batch = cluster.read(options.topic, p, positions[p], min(room, FETCH_MAX))
            for r in batch:
                emit(p, r.offset, r.timestamp, r.key, r.value, r.headers)
            if batch:
                positions[p] = batch[-1].offset + 1
                got += len(batch)
        if options.max_messages is not None and printed[0] >= options.max_messages:
            return
        if got:
            commit()  # after each round that printed, as the member path after each poll
            last_record = time.monotonic()
            continue
        if options.timeout_ms is None or (time.monotonic() - last_record) * 1000 >= options.timeout_ms:
            return
        time.sleep(POLL_SLEEP_S)


def _consume_as_member(
    opened: Opened, args: argparse.Namespace, options: _ConsumeOptions, emit: Emit, printed: list[int]
) -> None:
    """Join the group (or assign one partition), print each poll, commit what was printed."""
    consumer = _group_member(opened, args)
    topic = options.topic
    try:
        if args.partition is not None:
            tp = (topic, args.partition)
            consumer.assign([tp])
            if args.offset is not None:
                consumer.seek(tp, _start_offset(opened.cluster, args, topic, args.partition))
        else:
            consumer.subscribe([topic])
        _poll_loop(consumer, opened.cluster, args, options, emit, printed)
        # Like Kafka's consumer on close: every assigned partition gets its position
        # committed, also those that had nothing to read (they start at the reset rule).
        _commit_positions(consumer, args)
    finally:
        consumer.close(autocommit=False)


def _group_member(opened: Opened, args: argparse.Namespace) -> GroupMember:
    """A consumer of ``args.group``: the engine's, or on a Kafka cluster what
    kafka-console-consumer.sh uses (a client with group.id=G, no auto-commit here:
    this command commits what it printed)."""
    reset = "earliest" if args.from_beginning else "latest"
    if opened.kafka is not None:
        from logcore.kafka_consumer import KafkaGroupConsumer

        return KafkaGroupConsumer(opened.kafka, args.group, client_id="console-consumer", auto_offset_reset=reset)
    assert opened.embedded is not None
    return Consumer(
        opened.embedded, args.group, client_id="console-consumer", auto_offset_reset=reset, enable_auto_commit=False
    )


def _commit_positions(consumer: GroupMember, args: argparse.Namespace) -> None:
    """Commit the position (next record to read) of every assigned partition.

    poll() is asked for at most the records still to print, so a position never
    runs past a record that was not printed.
    """
    if args.no_commit:
        return
    positions: dict[TopicPartition, int] = {tp: consumer.position(tp) for tp in consumer.assignment()}
    try:
        consumer.commit(positions)
    except CommitFailed as e:
        print(f"Warning: {e}", file=sys.stderr)


def _poll_loop(
    consumer: GroupMember,
    cluster: Cluster,
    args: argparse.Namespace,
    options: _ConsumeOptions,
    emit: Emit,
    printed: list[int],
) -> None:
    join_deadline = time.monotonic() + JOIN_WAIT_S
    warned = False
    last_record = time.monotonic()
    while True:
        room = FETCH_MAX if options.max_messages is None else options.max_messages - printed[0]
        records = consumer.poll(0, max_records=min(room, FETCH_MAX))
        for r in records:
            emit(r.partition, r.offset, r.timestamp, r.key, r.value, r.headers)
        if records:
            _commit_positions(consumer, args)
        if options.max_messages is not None and printed[0] >= options.max_messages:
            return
        if records:
            last_record = time.monotonic()
            continue
        assignment = consumer.assignment()
        if not assignment:
            now = time.monotonic()
            if now >= join_deadline:
                raise InvalidRequest(
                    f"group '{printable(args.group)}' gave this consumer no partitions within {JOIN_WAIT_S:.0f} s; "
                    f"see: offsetsite groups --describe --group {printable(args.group)} --members"
                )
            if not warned and now - (join_deadline - JOIN_WAIT_S) > 2:
                warned = True
                print(
                    f"Waiting for group '{printable(args.group)}' to finish rebalancing (members of a stopped "
                    "process leave after their session timeout)...",
                    file=sys.stderr,
                )
            time.sleep(POLL_SLEEP_S)
            continue
        if options.timeout_ms is None:
            caught_up = all(consumer.position(tp) >= cluster.watermarks(*tp)[1] for tp in assignment)
            if caught_up:
                return
        elif (time.monotonic() - last_record) * 1000 >= options.timeout_ms:
            return
        time.sleep(POLL_SLEEP_S)
