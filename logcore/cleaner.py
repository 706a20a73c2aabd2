"""Log compaction for ``cleanup.policy=compact``, as Kafka's ``LogCleaner`` does it.

The cleaner keeps, for every key, only the record with the highest offset; the
offsets of kept records never change, so a compacted log has gaps that readers skip.
A tombstone (null value) is itself removed once ``delete.retention.ms`` has passed
since its segment's newest record, giving consumers that long to see the delete.
Only segments before the active one are cleaned, each rewritten to a new file and
swapped in; the partition's recovery point is moved before the swap so that a crash
in the middle re-verifies the segment instead of trusting a stale index.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .records import decode_batch, encode_batch
from .segment import LogSegment

if TYPE_CHECKING:
    from .partition import PartitionLog


def _latest_offsets(log: PartitionLog) -> dict[bytes, int]:
    latest: dict[bytes, int] = {}
    for seg in log._all_segments():
        for _, batch in seg.iter_batches(0):
            for r in decode_batch(batch):
                if r.key is not None:
                    latest[r.key] = r.offset
    return latest


def clean_log(log: PartitionLog, now_ms: int) -> int:
    """Compact every segment before the active one; returns the records removed."""
    cfg = log.config
    latest = _latest_offsets(log)
    removed_total = 0
    segments = log._all_segments()
    kept_segments: list[LogSegment] = []
    for seg in segments[:-1]:
        tombstones_expire = now_ms - seg.max_timestamp > cfg.delete_retention_ms
        lag_ok = now_ms - seg.max_timestamp >= cfg.min_compaction_lag_ms
        if not lag_ok:
            kept_segments.append(seg)
            continue
        batches: list[bytes] = []
        removed = 0
        for _, batch in seg.iter_batches(0):
            records = decode_batch(batch)
            keep = [
                r
                for r in records
                if r.key is not None and latest.get(r.key) == r.offset and not (r.value is None and tombstones_expire)
            ]
            removed += len(records) - len(keep)
            if keep and len(keep) == len(records):
                batches.append(batch)
            elif keep:
                base = keep[0].offset
                batches.append(
                    encode_batch(
                        base,
                        [r.key for r in keep],
                        [r.value for r in keep],
                        [r.timestamp for r in keep],
                        [r.headers for r in keep],
                        offset_deltas=[r.offset - base for r in keep],
                    )
                )
        if not removed:
            kept_segments.append(seg)
            continue
        removed_total += removed
        log._mark_unclean_from(seg.base_offset)
        tmp = seg.log_path.with_name(seg.log_path.name + ".cleaned")
        with open(tmp, "wb") as f:
            for b in batches:
                f.write(b)
            f.flush()
            os.fsync(f.fileno())
        seg.close()
        os.replace(tmp, seg.log_path)
        fresh = LogSegment(seg.directory, seg.base_offset, cfg.index_interval_bytes)
        fresh.open_files()
        fresh.recover(0, 1 << 62)
        if fresh.size == 0 and kept_segments:
            # Kafka's cleaner never drops the first segment (it keeps the log start).
            fresh.delete_files()
            continue
        # Keep the segment's end: the next segment's base still follows it.
        fresh.next_offset = max(fresh.next_offset, seg.next_offset)
        fresh.persist_indexes(fsync=True)
        kept_segments.append(fresh)
    kept_segments.append(segments[-1])
    log._replace_segments(kept_segments)
    log._mark_recovered()
    return removed_total
