"""The guided lesson: why offsets exist, as a night train and its ticket checkers.

The steps are data (``SECTIONS``, ``STEPS``); each names one ``action`` that really
happens in the embedded engine through ``offsetsite.lab.service`` (produce passengers,
start, crash, restart and stop checkers). ``run(number)`` performs a step's action and
says what it did, so the view can audit it. ``restart()`` puts the lesson back to a
clean start: the lab reset, the lesson topic recreated, the group's offsets gone.

Kafka's own words behind the story: a committed offset is "the offset of the next
message your application will consume" (KafkaConsumer javadoc, "Offsets and Consumer
Position"); the group coordinator stores commits in the internal topic
``__consumer_offsets`` (KIP-848 and the Kafka design docs, "Consumer Position"); a
restarted consumer resumes from the last committed offset, so what it processed after
that commit is processed again (at-least-once), and committing before processing loses
what was in hand at a crash (at-most-once).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from logcore.checkers import CheckerSpec, CommitPolicy, State
from logcore.errors import GroupIdNotFound, KafkaError, UnknownTopicOrPartition
from offsetsite import engine

from . import service

TOPIC = "lesson-train"
GROUP = "lesson-checkers"
PARTITIONS = 2
# Slow enough to follow on a projector, fast enough that a step shows its effect in seconds.
PACE = 2.0
BATCH = 5


@dataclass(frozen=True)
class Section:
    number: int
    title: str
    text: tuple[str, ...]


@dataclass(frozen=True)
class Step:
    number: int
    section: int
    title: str
    button: str
    watch: str  # one sentence: what to look at once the button was pressed
    action: str  # a key of ACTIONS
    text: tuple[str, ...] = field(default=())


SECTIONS: tuple[Section, ...] = (
    Section(
        1,
        "What an offset is",
        (
            "A topic partition is a compartment of a train. Every record is a passenger, and every "
            "passenger sits in a numbered seat.",
            "The seat number is the offset. Each compartment counts its own seats from 0, and "
            "a seat number is never given out twice.",
        ),
    ),
    Section(
        2,
        "Why offsets are needed",
        (
            "A ticket checker walks through the compartments. If she never writes down where she "
            "got to, then after any break she either checks some passengers twice or misses some.",
            "In Kafka the checker is a consumer in a group. Her note is the committed offset: the "
            "seat of the next passenger she has not checked yet.",
        ),
    ),
    Section(
        3,
        "What offsets give you",
        (
            "Progress: the note says 'checked up to seat 42 of compartment 1', so everyone can see "
            "how far she is and how many are still waiting (the lag).",
            "Fault tolerance: back from a break (or a crash), she continues at seat 43.",
            "Parallelism: several checkers share the compartments, and the group keeps one note per compartment.",
        ),
    ),
    Section(
        4,
        "Without offsets",
        (
            "Without a note, a checker starts at the front of the train every time: everyone gets "
            "checked again. With a note written too early, she skips passengers for good.",
        ),
    ),
    Section(
        5,
        "Who keeps the notes",
        (
            "Kafka keeps the notebook for you: every commit is a record in the internal topic "
            "__consumer_offsets, keyed by group, topic and partition.",
            "A consumer that (re)starts asks the group coordinator for its last committed offset "
            "and resumes right there.",
        ),
    ),
    Section(
        6,
        "The flow, step by step",
        (
            "A passenger boards (produce), the checker arrives (fetch), checks the ticket "
            "(process), writes 'seat 42 checked' (commit), and after a break comes back and "
            "starts at seat 43 (resume).",
        ),
    ),
)


STEPS: tuple[Step, ...] = (
    Step(
        1,
        1,
        "Passengers board",
        "Board 20 passengers",
        "Each compartment fills its seats 0, 1, 2, ... in order: that number is the offset.",
        "board",
        ("Ten passengers get on in each of the two compartments of the lesson train.",),
    ),
    Step(
        2,
        2,
        "A checker starts",
        "Send in checker Ana",
        "Ana walks seat by seat; her notebook page only moves when she writes a note, every 10 seats.",
        "start_ana",
        ("Ana checks 2 tickets a second and writes a note (commits) after every 10 passengers.",),
    ),
    Step(
        3,
        3,
        "Progress",
        "Board 10 more passengers",
        "The notebook says how far Ana got; the seats after it are the passengers still waiting (the lag).",
        "board_more",
    ),
    Step(
        4,
        3,
        "A crash",
        "Crash Ana",
        "Crash her now: the yellow seats she checked since her last note are not in the notebook, "
        "so they will be checked again.",
        "crash_ana",
        ("A crash is not a clean stop: Ana writes no last note and does not say goodbye to the group.",),
    ),
    Step(
        5,
        3,
        "Back from the break",
        "Bring Ana back",
        "She waits until the group gives up on her crashed self, then starts at the seat after her note: "
        "the yellow seats turn red, checked twice.",
        "restart_ana",
    ),
    Step(
        6,
        3,
        "Sharing the work",
        "Add a second checker, Ben",
        "The group splits the compartments between Ana and Ben; each compartment keeps its own notebook page.",
        "add_ben",
        ("Twenty more passengers board first, so both checkers have work.",),
    ),
    Step(
        7,
        4,
        "A note written too early",
        "Send in a hasty checker",
        "Ana and Ben end their shift; Hasty writes his note as soon as he picks up 5 passengers "
        "(blue seats), before he looks at a single ticket.",
        "start_hasty",
        ("Twenty more passengers board for him.",),
    ),
    Step(
        8,
        4,
        "Skipped passengers",
        "Crash the hasty checker",
        "Crash him while he holds blue seats: they are behind his note already, so nobody will ever "
        "check them (purple seats).",
        "crash_hasty",
    ),
    Step(
        9,
        5,
        "Reading the notebook",
        "Restart the hasty checker",
        "He reads his last note in __consumer_offsets and resumes at that seat: the purple seats stay skipped.",
        "restart_hasty",
    ),
    Step(
        10,
        6,
        "A passenger boards (produce)",
        "Board one passenger",
        "Every checker ends its shift with a last note; one new grey seat appears at the end of compartment 0.",
        "flow_board",
    ),
    Step(
        11,
        6,
        "Fetch, check, note",
        "Send in checker Flo",
        "Flo fetches the passenger (blue: in hand), checks the ticket, and notes it: the seat turns green "
        "and the notebook moves one seat on.",
        "flow_check",
        ("Flo writes a note after every passenger.",),
    ),
    Step(
        12,
        6,
        "Resume after a break",
        "Break, one more passenger, come back",
        "Flo leaves with a note, one more passenger boards, and Flo comes back at the seat after her note: "
        "nobody is checked twice.",
        "flow_resume",
    ),
)

ANA, BEN, HASTY, FLO = "Ana", "Ben", "Hasty", "Flo"


def step(number: int) -> Step | None:
    for s in STEPS:
        if s.number == number:
            return s
    return None


def section(number: int) -> Section:
    return SECTIONS[number - 1]


@dataclass
class Outcome:
    """What a step did, for the page and the audit log."""

    message: str
    produced: list[tuple[int, int]] = field(default_factory=list)  # (partition, offset)
    checkers: list[tuple[str, str]] = field(default_factory=list)  # (checker, what happened)


def _spec(name: str, policy: str, pace: float = PACE) -> CheckerSpec:
    return CheckerSpec(name, GROUP, TOPIC, pace=pace, policy=CommitPolicy.parse(policy), batch=BATCH)


def _ensure_topic() -> None:
    cluster = engine.get_cluster()
    if TOPIC not in cluster.list_topics(include_internal=False):
        cluster.create_topic(TOPIC, PARTITIONS)


def _board(out: Outcome, per_partition: int, partitions: tuple[int, ...] = tuple(range(PARTITIONS))) -> None:
    _ensure_topic()
    cluster = engine.get_cluster()
    with engine.locked():
        for _ in range(per_partition):
            for p in partitions:
                _, end = cluster.watermarks(TOPIC, p)
                where = cluster.produce(TOPIC, f"passenger {p}-{end}".encode(), key=f"seat-{end}".encode(), partition=p)
                out.produced.append(where)


def _views() -> dict[str, State]:
    return {c.name: c.state for c in service.checkers() if c.group == GROUP}


def _start_or_restart(out: Outcome, name: str, policy: str) -> None:
    """Start ``name``, or restart it when the lab has it already (same name, same strategy)."""
    known = _views()
    if name in known:
        if known[name] in (State.RUNNING, State.PAUSED):
            out.checkers.append((name, "already running"))
            return
        service.control(name, "restart")
        out.checkers.append((name, "restarted"))
        return
    service.start_checker(_spec(name, policy))
    out.checkers.append((name, f"started ({CommitPolicy.parse(policy).describe()})"))


def _control(out: Outcome, name: str, action: str) -> None:
    if name not in _views():
        raise KafkaError(f"checker {name} is not in the lesson yet: run the earlier steps first")
    service.control(name, action)
    out.checkers.append((name, action))


def _dismiss_all(out: Outcome) -> None:
    """Every checker ends its shift: a clean stop (last note, LeaveGroup), then forgotten."""
    for name in list(_views()):
        service.control(name, "remove")
        out.checkers.append((name, "removed"))


def _act(action: str, out: Outcome) -> None:
    if action == "board":
        _board(out, 10)
    elif action == "board_more":
        _board(out, 5)
    elif action == "start_ana":
        _ensure_topic()
        _start_or_restart(out, ANA, "every:10")
    elif action == "crash_ana":
        _control(out, ANA, "crash")
    elif action == "restart_ana":
        _control(out, ANA, "restart")
    elif action == "add_ben":
        _board(out, 10)
        _start_or_restart(out, BEN, "every:10")
    elif action == "start_hasty":
        _dismiss_all(out)
        _board(out, 10)
        _start_or_restart(out, HASTY, "before")
    elif action == "crash_hasty":
        _control(out, HASTY, "crash")
    elif action == "restart_hasty":
        _control(out, HASTY, "restart")
    elif action == "flow_board":
        _dismiss_all(out)
        _board(out, 1, (0,))
    elif action == "flow_check":
        _start_or_restart(out, FLO, "each")
    elif action == "flow_resume":
        if FLO in _views():
            _control(out, FLO, "stop")
        _board(out, 1, (0,))
        _start_or_restart(out, FLO, "each")
    else:  # a programming error: STEPS names only the actions above
        raise ValueError(f"unknown lesson action {action!r}")


def run(number: int) -> Outcome:
    """Perform step ``number``; raises KafkaError (e.g. a step out of order) with a clear message."""
    found = step(number)
    if found is None:
        raise ValueError(f"no lesson step {number}; the steps are 1 to {len(STEPS)}")
    out = Outcome(message="")
    _act(found.action, out)
    parts = []
    if out.produced:
        parts.append(f"{len(out.produced)} passenger(s) boarded")
    parts.extend(f"{name} {what}" for name, what in out.checkers)
    out.message = f"Step {number}: " + ("; ".join(parts) or "done") + "."
    service.step_now()
    _wake()
    return out


def restart() -> list[str]:
    """A clean start: no checkers, no ledger, the lesson topic empty and the group gone.

    A crashed checker's member stays in the group until its session times out; the
    reset removes such members at once, as ``Admin.removeMembersFromConsumerGroup``
    (KIP-345) lets an operator do, so the group is Empty and can be deleted
    (``kafka-consumer-groups.sh --delete`` refuses a non-empty group too).
    """
    groups = service.reset_lab()
    with engine.locked():
        cluster = engine.embedded()
        try:
            desc = cluster.describe_group(GROUP)
        except GroupIdNotFound:
            desc = None
        if desc is not None:
            for m in desc.members:
                cluster.coordinator.leave_group(GROUP, m.member_id)
            try:
                cluster.delete_group(GROUP)
            except GroupIdNotFound:
                pass
        try:
            cluster.delete_topic(TOPIC)
        except UnknownTopicOrPartition:
            pass
        cluster.create_topic(TOPIC, PARTITIONS)
    _wake()
    return groups


def _wake() -> None:
    # Producing and resetting are engine events the lab kind does not hear by itself
    # (it wakes on the checkers' steps): tell the lesson's pages now.
    from offsetsite.live.bridge import BRIDGE

    BRIDGE.touch_lab({(GROUP, TOPIC)})
