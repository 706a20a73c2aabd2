"""Where a Kafka cluster is and how to log in: the properties a backend connects with.

Kafka's tools take ``--bootstrap-server HOST:PORT`` and ``--command-config FILE``, a
Java properties file of client settings (``security.protocol``, ``sasl.mechanism``,
``sasl.jaas.config``, ...). offsetsite takes the same two things; the file holds
librdkafka properties (https://github.com/confluentinc/librdkafka/blob/master/CONFIGURATION.md),
and the two Java-only spellings people copy from their Kafka CLI files are translated:
``sasl.jaas.config`` (PLAIN and SCRAM login modules) becomes ``sasl.username`` and
``sasl.password``.

Secrets in these properties must never reach a page, a log line or an error: every
way of showing them goes through :func:`redacted`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InvalidConfig

# A property whose value is a secret when its name contains one of these.
_SECRET_WORDS = ("password", "secret", "jaas", "token", "key.pem", "private", "credential", "oauthbearer.config")
REDACTED = "[hidden]"

# Cluster names appear in URLs (/clusters/<name>/) and in channel-group names.
# Short enough that a channel-layer group name holding it stays under 100 characters.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")

_JAAS = re.compile(
    r"(?P<module>[\w.]+LoginModule)\s+required(?P<options>.*?);?\s*$",
    re.DOTALL,
)
_JAAS_OPTION = re.compile(r'(\w+)\s*=\s*"((?:[^"\\]|\\.)*)"')


def is_secret(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_WORDS) or lowered.endswith(".key")


def redacted(properties: Mapping[str, str]) -> dict[str, str]:
    """The properties with every secret value replaced: safe to show and to log."""
    return {k: (REDACTED if is_secret(k) else v) for k, v in properties.items()}


def validate_cluster_name(name: str) -> str:
    if not _NAME.match(name):
        raise InvalidConfig(
            f"cluster name {name!r} is not allowed: use 1 to 32 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def parse_properties(text: str, source: str = "properties") -> dict[str, str]:
    """A Java ``.properties`` text: ``key=value`` or ``key: value``, ``#``/``!`` comments,
    a trailing backslash continues a line."""
    out: dict[str, str] = {}
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = pending + raw.lstrip() if pending else raw.strip()
        if line.endswith("\\") and not line.endswith("\\\\"):
            pending = line[:-1]
            continue
        pending = ""
        logical.append(line)
    if pending:
        logical.append(pending)
    for number, line in enumerate(logical, 1):
        if not line or line[0] in "#!":
            continue
        match = re.match(r"^([^=:\s]+)\s*[=:\s]\s*(.*)$", line)
        if match is None:
            raise InvalidConfig(f"{source}: line {number} is not 'key=value': {line.split('=')[0][:40]!r}")
        out[match.group(1)] = match.group(2).strip()
    return _translate_java(out, source)


def _translate_java(props: dict[str, str], source: str) -> dict[str, str]:
    jaas = props.pop("sasl.jaas.config", None)
    if jaas is None:
        return props
    found = _JAAS.match(jaas.strip())
    if found is None:
        raise InvalidConfig(f"{source}: sasl.jaas.config is not a 'LoginModule required ...;' entry")
    module = found.group("module")
    options = dict(_JAAS_OPTION.findall(found.group("options")))
    if module.endswith(("PlainLoginModule", "ScramLoginModule")):
        props.setdefault("sasl.username", options.get("username", ""))
        props.setdefault("sasl.password", options.get("password", ""))
        return props
    raise InvalidConfig(
        f"{source}: sasl.jaas.config uses {module.rsplit('.', 1)[-1]}, which librdkafka does not read; "
        "set librdkafka's own properties instead (sasl.oauthbearer.*, sasl.kerberos.*)"
    )


def load_properties(path: str | Path) -> dict[str, str]:
    """The properties in ``path`` (``--command-config``); errors name the file, never a value."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidConfig(f"command config {p} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidConfig(f"command config {p} cannot be read: {getattr(e, 'strerror', None) or e}") from None
    return parse_properties(text, str(p))


@dataclass(frozen=True)
class KafkaClusterConfig:
    """One Kafka cluster as configured: its name, where it is, how to log in."""

    name: str
    bootstrap_servers: str
    properties: Mapping[str, str] = field(default_factory=dict)
    # Seconds between two samples of committed offsets and high watermarks when
    # __consumer_offsets cannot be read.
    sample_interval_s: float = 5.0
    # No call waits longer than this for the cluster.
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        validate_cluster_name(self.name)
        if not self.bootstrap_servers.strip():
            raise InvalidConfig(f"cluster {self.name}: bootstrap.servers is empty: give HOST:PORT[,HOST:PORT...]")
        if self.sample_interval_s <= 0 or self.timeout_s <= 0:
            raise InvalidConfig(f"cluster {self.name}: sample interval and timeout must be positive seconds")

    def client_properties(self) -> dict[str, str]:
        """librdkafka properties for a client of this cluster (secrets included: never log)."""
        return {**self.properties, "bootstrap.servers": self.bootstrap_servers}

    def __repr__(self) -> str:  # a dataclass repr would print the password
        shown = redacted(self.properties)
        where = self.bootstrap_servers
        return f"KafkaClusterConfig(name={self.name!r}, bootstrap_servers={where!r}, properties={shown})"

    def describe(self) -> dict[str, object]:
        """What a page may show of this cluster: no secret."""
        return {
            "name": self.name,
            "bootstrap_servers": self.bootstrap_servers,
            "properties": redacted(self.properties),
            "sample_interval_s": self.sample_interval_s,
        }
