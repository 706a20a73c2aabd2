"""Kafka's RecordBatch v2 for the listener: the codec lives in ``logcore.recordbatch``.

It moved there when logcore began storing producers' batches whole (records.py,
magic 2): the log decodes them on read, so the codec is the engine's, not only the
listener's. This module keeps the names the listener and its tests use.
"""

from ..recordbatch import (
    CODEC_NAMES,
    COMPRESSION_GZIP,
    COMPRESSION_LZ4,
    COMPRESSION_NONE,
    COMPRESSION_SNAPPY,
    COMPRESSION_ZSTD,
    CONTROL,
    HEADER_SIZE,
    MAGIC,
    TIMESTAMP_LOG_APPEND,
    TRANSACTIONAL,
    BatchError,
    BatchInfo,
    WireBatch,
    as_stored,
    compress,
    decode,
    decompress,
    encode,
    iter_batches,
    recompress,
    scan,
    to_records,
)

__all__ = [
    "CODEC_NAMES",
    "COMPRESSION_GZIP",
    "COMPRESSION_LZ4",
    "COMPRESSION_NONE",
    "COMPRESSION_SNAPPY",
    "COMPRESSION_ZSTD",
    "CONTROL",
    "HEADER_SIZE",
    "MAGIC",
    "TIMESTAMP_LOG_APPEND",
    "TRANSACTIONAL",
    "BatchError",
    "BatchInfo",
    "WireBatch",
    "as_stored",
    "compress",
    "decode",
    "decompress",
    "encode",
    "iter_batches",
    "recompress",
    "scan",
    "to_records",
]
