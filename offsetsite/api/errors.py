"""logcore's errors on the wire: Kafka's error code, an HTTP status, and back.

The body of every refusal is ``{"error": {"code": ..., "message": ..., "exception": ...}}``.
``code`` is Kafka's error name (what scripts should test); ``exception`` names the
logcore class so that ``offsetsite.cli.remote`` raises exactly what the engine raised
(``ResetRefused`` shares INVALID_REQUEST with plain bad input, for instance), and the
command line prints the same message whether it holds the data directory or not.
No Django here: the command line imports it.
"""

from __future__ import annotations

from typing import Any

from logcore import errors
from logcore.admin import ResetRefused

# Kafka code -> HTTP status. Anything not listed is a server error (500).
STATUS_BY_CODE: dict[str, int] = {
    # bad input: the request can never succeed as sent
    "INVALID_TOPIC_EXCEPTION": 400,
    "INVALID_PARTITIONS": 400,
    "INVALID_CONFIG": 400,
    "INVALID_RECORD": 400,
    "INVALID_REQUEST": 400,
    "INVALID_GROUP_ID": 400,
    "INVALID_SESSION_TIMEOUT": 400,
    "OFFSET_METADATA_TOO_LARGE": 400,
    "OFFSET_OUT_OF_RANGE": 400,
    "POLICY_VIOLATION": 400,
    "NO_OFFSET_FOR_PARTITION": 400,
    "BAD_REQUEST": 400,
    # who you are / what you may do (the API's own codes)
    "UNAUTHORIZED": 401,
    "FORBIDDEN": 403,
    # nothing by that name
    "UNKNOWN_TOPIC_OR_PARTITION": 404,
    "GROUP_ID_NOT_FOUND": 404,
    "NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    # the state of the cluster refuses it now; it may work later
    "TOPIC_ALREADY_EXISTS": 409,
    "NON_EMPTY_GROUP": 409,
    "GROUP_SUBSCRIBED_TO_TOPIC": 409,
    "REBALANCE_IN_PROGRESS": 409,
    "UNKNOWN_MEMBER_ID": 409,  # a commit from outside an active group
    "ILLEGAL_GENERATION": 409,
    "INCONSISTENT_GROUP_PROTOCOL": 409,
    "COMMIT_FAILED": 409,
    "MESSAGE_TOO_LARGE": 413,
    "PAYLOAD_TOO_LARGE": 413,
    # the engine or the Kafka cluster cannot serve
    "DATA_DIR_LOCKED": 503,
    "NOT_LEADER_OR_FOLLOWER": 503,
    "NETWORK_EXCEPTION": 503,
    # the Kafka cluster refuses these credentials or this principal
    "SASL_AUTHENTICATION_FAILED": 502,
    "TOPIC_AUTHORIZATION_FAILED": 403,
    "GROUP_AUTHORIZATION_FAILED": 403,
    "CLUSTER_AUTHORIZATION_FAILED": 403,
    "UNSUPPORTED_VERSION": 501,
}


def status_for(exc: errors.KafkaError) -> int:
    if isinstance(exc, ResetRefused):
        return 409  # an active group: a conflict with the group's state, not bad input
    return STATUS_BY_CODE.get(exc.code, 500)


def error_body(exc: errors.KafkaError) -> dict[str, Any]:
    body: dict[str, Any] = {"code": exc.code, "message": str(exc), "exception": type(exc).__name__}
    if isinstance(exc, errors.OffsetOutOfRange):
        body.update(offset=exc.offset, log_start=exc.log_start, log_end=exc.log_end)
    if isinstance(exc, errors.DataDirLocked):
        body.update(pid=exc.pid)
    return body


def _classes() -> dict[str, type[errors.KafkaError]]:
    found: dict[str, type[errors.KafkaError]] = {"ResetRefused": ResetRefused}
    for name in dir(errors):
        obj = getattr(errors, name)
        if isinstance(obj, type) and issubclass(obj, errors.KafkaError):
            found[name] = obj
    return found


_BY_NAME = _classes()
# The first class declared with a code is its canonical one (ResetRefused is not).
_BY_CODE: dict[str, type[errors.KafkaError]] = {}
for _cls in _BY_NAME.values():
    if _cls is not ResetRefused:
        _BY_CODE.setdefault(_cls.code, _cls)


def exception_from(body: dict[str, Any]) -> errors.KafkaError:
    """Rebuild the exception a server reported (never runs code named by the server:
    only logcore's own exception classes are looked up)."""
    code = str(body.get("code") or "UNKNOWN_SERVER_ERROR")
    message = str(body.get("message") or code)
    cls = _BY_NAME.get(str(body.get("exception") or "")) or _BY_CODE.get(code)
    if cls is errors.OffsetOutOfRange:
        return errors.OffsetOutOfRange(
            message,
            offset=int(body.get("offset", -1)),
            log_start=int(body.get("log_start", -1)),
            log_end=int(body.get("log_end", -1)),
        )
    if cls is errors.DataDirLocked:
        pid = body.get("pid")
        return errors.DataDirLocked(message, pid=pid if isinstance(pid, int) else None)
    if cls is not None and cls.code == code:
        return cls(message)
    # An API-level refusal (UNAUTHORIZED, FORBIDDEN, ...): keep its code on the instance.
    exc = errors.KafkaError(message)
    exc.code = code
    return exc
