"""``offsetsite groups``: kafka-consumer-groups.sh's flags, columns and messages."""

from __future__ import annotations

import argparse
import csv
import io
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from logcore.admin import (
    ResetRefused,
    RestorePoints,
    Scenario,
    Scope,
    execute_reset,
    plan_reset,
)
from logcore.cluster import Cluster, GroupDescription
from logcore.errors import GroupIdNotFound, InvalidRequest, KafkaError
from logcore.lag import known_high_watermark, lag_messages

from .text import UsageError, printable

_SCENARIO_FLAGS = {
    "to_earliest": "to-earliest",
    "to_latest": "to-latest",
    "to_current": "to-current",
    "to_offset": "to-offset",
    "shift_by": "shift-by",
    "to_datetime": "to-datetime",
    "by_duration": "by-duration",
    "from_file": "from-file",
}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "groups",
        help="list, describe, reset and delete consumer groups (kafka-consumer-groups.sh)",
        description="Consumer-group administration with the flags of kafka-consumer-groups.sh.",
    )
    action = p.add_mutually_exclusive_group(required=True)
    action.add_argument("--list", action="store_true", help="list all groups")
    action.add_argument("--describe", action="store_true", help="describe a group")
    action.add_argument("--reset-offsets", action="store_true", help="plan or execute a reset")
    action.add_argument("--delete-offsets", action="store_true", help="delete a group's offsets")
    action.add_argument("--delete", action="store_true", help="delete an Empty group")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--group", action="append", default=[], help="the group (repeatable)")
    target.add_argument("--all-groups", action="store_true", help="every group")
    view = p.add_mutually_exclusive_group()
    view.add_argument("--members", action="store_true", help="describe the members")
    view.add_argument("--offsets", action="store_true", help="describe the offsets (default)")
    view.add_argument("--state", action="store_true", help="describe or list with the state")
    p.add_argument("--verbose", action="store_true", help="with --members: list assignments")
    p.add_argument("--topic", action="append", default=[], help="topic or topic:0,1 (repeatable)")
    p.add_argument("--all-topics", action="store_true", help="every topic the group has offsets for")
    scen = p.add_mutually_exclusive_group()
    scen.add_argument("--to-earliest", action="store_true")
    scen.add_argument("--to-latest", action="store_true")
    scen.add_argument("--to-current", action="store_true")
    scen.add_argument("--to-offset", metavar="N")
    scen.add_argument("--shift-by", metavar="N")
    scen.add_argument("--to-datetime", metavar="yyyy-MM-ddTHH:mm:ss.SSS")
    scen.add_argument("--by-duration", metavar="PnDTnHnMnS")
    scen.add_argument("--from-file", metavar="CSV")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="show the plan (the default)")
    mode.add_argument("--execute", action="store_true", help="apply the reset")
    p.add_argument("--export", action="store_true", help="print the plan as CSV for --from-file")
    p.set_defaults(handler=run)


def _dash(value: object) -> str:
    return "-" if value is None or value == "" else str(value)


def _table(rows: Sequence[Sequence[str]], header: Sequence[str], min_widths: Sequence[int]) -> str:
    rows = [[printable(c) for c in r] for r in rows]  # a group id must not rewrite the terminal
    widths = [max(min_widths[i], len(header[i]), *(len(r[i]) for r in rows)) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return " ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([line(header), *(line(r) for r in rows)]) + "\n"


def _describe_status(d: GroupDescription) -> None:
    # ConsumerGroupCommand.shouldPrintMemberState: both notes go to stderr.
    if d.state == "Empty":
        print(f"\nConsumer group '{printable(d.group_id)}' has no active members.", file=sys.stderr)
    elif d.state in ("PreparingRebalance", "CompletingRebalance"):
        print(f"\nWarning: Consumer group '{printable(d.group_id)}' is rebalancing.", file=sys.stderr)


def describe(cluster: Cluster, args: argparse.Namespace, out: TextIO) -> int:
    groups = [g.group_id for g in cluster.list_groups()] if args.all_groups else args.group
    if not groups:
        raise UsageError("--describe needs --group G or --all-groups")
    status = 0
    for group_id in groups:
        try:
            d = cluster.describe_group(group_id)
        except GroupIdNotFound:
            # Kafka's printError: stdout. The exit status 1 is ours (docs/cli.md).
            print(f"\nError: Consumer group '{printable(group_id)}' does not exist.", file=out)
            status = 1
            continue
        _describe_status(d)
        if args.state:
            rows = [[d.group_id, "localhost:0 (0)", _dash(d.protocol), d.state, str(len(d.members))]]
            print(
                "\n"
                + _table(
                    rows,
                    ["GROUP", "COORDINATOR (ID)", "ASSIGNMENT-STRATEGY", "STATE", "#MEMBERS"],
                    [15, 25, 20, 20, 10],
                ),
                end="",
                file=out,
            )
        elif args.members:
            header = ["GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS"]
            rows = []
            for m in d.members:
                row = [d.group_id, m.member_id, m.host, m.client_id, str(len(m.assignment))]
                if args.verbose:
                    row.append(", ".join(f"{t}({p})" for t, p in m.assignment) or "-")
                rows.append(row)
            if args.verbose:
                header.append("ASSIGNMENT")
            if rows:
                print("\n" + _table(rows, header, [15] * len(header)), end="", file=out)
        else:
            # A topic deleted under the group's offsets has no log: show "-", not a
            # made-up LOG-END-OFFSET of -1 and a LAG of 0.
            rows = [
                [
                    d.group_id,
                    o.topic,
                    str(o.partition),
                    _dash(o.committed),
                    _dash(known_high_watermark(o.high_watermark)),
                    # Unclamped, as Kafka prints it: negative when committed past the HW;
                    # None ("-") for a topic gone or nothing committed.
                    _dash(lag_messages(known_high_watermark(o.high_watermark), o.committed, clamp=False)),
                    _dash(o.member_id),
                    _dash(o.host),
                    _dash(o.client_id),
                ]
                for o in d.offsets
            ]
            if rows:
                print(
                    "\n"
                    + _table(
                        rows,
                        [
                            "GROUP",
                            "TOPIC",
                            "PARTITION",
                            "CURRENT-OFFSET",
                            "LOG-END-OFFSET",
                            "LAG",
                            "CONSUMER-ID",
                            "HOST",
                            "CLIENT-ID",
                        ],
                        [15, 15, 10, 15, 15, 15, 15, 15, 0],
                    ),
                    end="",
                    file=out,
                )
    return status


def _scenario(args: argparse.Namespace) -> Scenario:
    chosen = [
        (flag, getattr(args, attr))
        for attr, flag in _SCENARIO_FLAGS.items()
        if getattr(args, attr) not in (None, False)
    ]
    if len(chosen) != 1:
        raise UsageError(
            "--reset-offsets needs exactly one scenario: --to-earliest, --to-latest, --to-current, "
            "--to-offset N, --shift-by N, --to-datetime D, --by-duration P or --from-file F"
        )
    kind, value = chosen[0]
    if kind == "from-file":
        value = _read_offsets_file(value)
    return Scenario(kind, None if value is True else value)


def _read_offsets_file(path: str) -> str:
    """The ``--from-file`` CSV as text: UTF-8 (a BOM, as spreadsheets write, is dropped)."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise InvalidRequest(f"cannot read the offsets file {path}: {e.strerror}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InvalidRequest(
            f"the offsets file {path} is not UTF-8 text: byte 0x{data[e.start]:02x} at byte {e.start + 1}; "
            "save it as UTF-8 (with or without a BOM)"
        ) from None
    if not text.strip():
        raise InvalidRequest(
            f"the offsets file {path} has no lines; expected topic,partition,offset "
            "(or group,topic,partition,offset, as --export writes)"
        )
    return text


def _plans_by_group(text: str, groups: Sequence[str]) -> dict[str, str]:
    """Kafka's ``GroupOffsetsResetter.parseResetPlan``: each group's rows of a ``--from-file`` CSV.

    With one ``--group`` and lines ``topic,partition,offset`` every line is that group's;
    otherwise every line is ``group,topic,partition,offset`` and a group gets only its own.
    """
    rows = [(n, row) for n, row in enumerate(csv.reader(io.StringIO(text)), 1) if row and "".join(row).strip()]
    if len(groups) == 1 and (not rows or len(rows[0][1]) == 3):
        return {groups[0]: text}
    plans: dict[str, list[str]] = {}
    for n, row in rows:
        if len(row) != 4:
            raise InvalidRequest(
                f"line {n} of the offsets file has {len(row)} fields; expected group,topic,partition,offset "
                "(a file without the group column takes exactly one --group)"
            )
        plans.setdefault(row[0].strip(), []).append(",".join(row[1:]))
    return {g: "".join(f"{line}\n" for line in lines) for g, lines in plans.items()}


def reset(cluster: Cluster, args: argparse.Namespace, out: TextIO, restore: RestorePoints | None) -> int:
    scenario = _scenario(args)
    groups = [g.group_id for g in cluster.list_groups()] if args.all_groups else args.group
    if not groups:
        raise UsageError("--reset-offsets needs --group G or --all-groups")
    if not args.topic and not args.all_topics and scenario.kind != "from-file":
        raise UsageError("--reset-offsets needs one of --all-topics or --topic")
    scope = (
        Scope(False, ())
        if (scenario.kind == "from-file" and not args.topic and not args.all_topics)
        else Scope.parse(args.topic, args.all_topics)
    )
    now = int(time.time() * 1000)
    if not args.execute and not args.dry_run:
        # Kafka's own reminder: without --execute nothing changes.
        print(
            "WARN: No action will be performed as the --execute option is missing. "
            "Add --execute to apply the reset, or --dry-run to only show it.",
            file=sys.stderr,
        )
    # With several groups the CSV needs a group column to be read back (as Kafka writes it).
    export_group_column = len(groups) > 1
    file_plans = _plans_by_group(str(scenario.value), groups) if scenario.kind == "from-file" else None
    status = 0
    exported: list[str] = []
    for group_id in groups:
        group_scenario = scenario
        if file_plans is not None:
            if group_id not in file_plans:
                # Kafka's words, stdout
                print(f"\nError: No reset plan for group {printable(group_id)} found.", file=out)
                status = 1
                continue
            group_scenario = Scenario("from-file", file_plans[group_id])
        plan = plan_reset(cluster, group_id, group_scenario, scope, now_ms=now)
        if plan.refusal:
            print(f"\nError: {printable(plan.refusal)}", file=out)  # Kafka's printError: stdout
            status = 1
            continue
        for w in plan.warnings:
            print(f"Warning: {printable(w)}", file=sys.stderr)
        if args.execute:
            # Read back from the cluster: say so when it holds something else than the plan.
            for t, part, want, held in execute_reset(cluster, plan, restore).mismatches:
                print(
                    f"Warning: {t}-{part}: the cluster holds offset {_dash(held)} after the reset, "
                    f"not the planned {_dash(want)}",
                    file=sys.stderr,
                )
                status = 1
        if args.export:
            csv = plan.export_csv()
            if export_group_column:
                csv = "".join(f"{group_id},{line}\n" for line in csv.splitlines())
            exported.append(csv)
        else:
            print(
                "\n"
                + _table(
                    [[group_id, r.topic, str(r.partition), str(r.after)] for r in plan.rows],
                    ["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"],
                    [15, 15, 10, 0],
                ),
                end="",
                file=out,
            )
    if exported:
        out.write("".join(exported))
    return status


def _check_combinations(args: argparse.Namespace) -> None:
    """Refuse flags that would be silently ignored by the chosen action."""
    if not args.reset_offsets:
        used = [f"--{flag}" for attr, flag in _SCENARIO_FLAGS.items() if getattr(args, attr) not in (None, False)]
        used += [f"--{name}" for name in ("execute", "dry-run", "export") if getattr(args, name.replace("-", "_"))]
        if used:
            raise UsageError(f"{', '.join(used)} only work with --reset-offsets")
    if (args.members or args.offsets or args.verbose) and not args.describe:
        raise UsageError("--members, --offsets and --verbose only work with --describe")
    if args.state and not (args.describe or args.list):
        raise UsageError("--state only works with --describe or --list")


def run(
    cluster: Cluster, args: argparse.Namespace, out: TextIO = sys.stdout, restore: RestorePoints | None = None
) -> int:
    """Run ``groups`` against ``cluster``; returns the exit status."""
    try:
        _check_combinations(args)
        if args.list:
            listing = cluster.list_groups()
            if args.state:
                print(_table([[g.group_id, g.state] for g in listing], ["GROUP", "STATE"], [15, 0]), end="", file=out)
            else:
                for g in listing:
                    print(printable(g.group_id), file=out)
            return 0
        if args.describe:
            return describe(cluster, args, out)
        if args.reset_offsets:
            return reset(cluster, args, out, restore)
        groups = [g.group_id for g in cluster.list_groups()] if args.all_groups else args.group
        if args.delete_offsets:
            if not args.group:
                raise UsageError("--delete-offsets needs --group G")
            if not args.topic:
                raise UsageError("--delete-offsets needs --topic T[:p,...]")
            scope = Scope.parse(args.topic)
            parts = []
            for topic, nums in scope.topics:
                count = len(cluster.describe_topic(topic).partitions)
                for p in nums:
                    if not 0 <= p < count:
                        raise InvalidRequest(
                            f"Partition {p} of topic '{topic}' does not exist: valid partitions are 0 to {count - 1}"
                        )
                parts += [(topic, p) for p in (nums or range(count))]
            for group_id in args.group:
                cluster.delete_offsets(group_id, parts)
                rows = [[t, str(p), "Successful"] for t, p in parts]
                print(_table(rows, ["TOPIC", "PARTITION", "STATUS"], [15, 10, 0]), end="", file=out)
            return 0
        if not args.group and not args.all_groups:
            raise UsageError("--delete needs --group G or --all-groups")
        for group_id in groups:
            cluster.delete_group(group_id)
            print(f"Deletion of requested consumer groups ('{printable(group_id)}') was successful.", file=out)
        return 0
    except UsageError as e:
        print(f"Error: {printable(e)}", file=sys.stderr)
        return 2
    except ResetRefused as e:
        print(f"\nError: {printable(e)}", file=out)  # Kafka's printError: stdout
        return 1
    except GroupIdNotFound as e:
        print(f"\nError: {printable(e)}", file=sys.stderr)
        return 1
    except KafkaError as e:
        print(f"Error: {printable(e)}", file=sys.stderr)
        return 1
