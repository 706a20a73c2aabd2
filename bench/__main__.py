"""``python -m bench NAME [args]``: run one benchmark (``./dev bench ...`` calls this); NAME as listed below."""

from __future__ import annotations

import sys
from collections.abc import Callable

BENCHMARKS = {
    "log": "storage: logcore against a plain file writer and SQLite (bench/log.py)",
    "groups": "group coordinator and __consumer_offsets (bench/groups.py)",
    "web": "live frames, page loads and a 10M-record topic page against the real server (bench/web.py)",
    "kafka": "the Kafka backend's group refresh against plain confluent-kafka calls, on tansu (bench/kafka.py)",
    "room": "a workshop room: attendees with checkers and live pages, produce-to-frame latency (bench/room.py)",
    "multi": "serve --workers 2 (Redis, PostgreSQL) against one process: live frames and page loads (bench/multi.py)",
    "listener": "the Kafka listener against tansu: confluent-kafka produce, consume, latency (bench/listener.py)",
}


def _runner(name: str) -> Callable[[list[str] | None], int]:
    if name == "log":
        from bench import log

        return log.main
    if name == "web":
        from bench import web

        return web.main
    if name == "kafka":
        from bench import kafka

        return kafka.main
    if name == "room":
        from bench import room

        return room.main
    if name == "multi":
        from bench import multi

        return multi.main
    if name == "listener":
        from bench import listener

        return listener.main
    from bench import groups

    return groups.main


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help") or args[0] not in BENCHMARKS:
        out = sys.stdout if not args or args[0] in ("-h", "--help") else sys.stderr
        if args and args[0] not in ("-h", "--help"):
            print(f"unknown benchmark {args[0]!r}; allowed: {', '.join(BENCHMARKS)}", file=out)
        print(
            "usage: python -m bench {log|groups|web|kafka|room|multi|listener} [--json] [options] (each: --help)",
            file=out,
        )
        for name, what in BENCHMARKS.items():
            print(f"  {name:8s} {what}", file=out)
        return 0 if out is sys.stdout else 2
    return _runner(args[0])(args[1:])


if __name__ == "__main__":
    raise SystemExit(main())
