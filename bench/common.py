"""What every benchmark prints besides its figures: the machine, the date, result rows.

A figure without the machine it ran on means little, so each benchmark embeds
``machine()`` in its JSON and ``docs/benchmarks.md`` copies it.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _disk(path: Path) -> dict[str, Any]:
    """The filesystem holding ``path``: device, type, and whether the disk spins."""
    out: dict[str, Any] = {"path": str(path)}
    try:
        best = ""
        target = str(path.resolve())
        for line in Path("/proc/mounts").read_text().splitlines():
            device, mount, fstype = line.split()[:3]
            inside = target == mount or target.startswith(mount.rstrip("/") + "/")
            if inside and len(mount) >= len(best):
                best = mount
                out.update(device=device, mount=mount, fstype=fstype)
        device = str(out.get("device", ""))
        name = device.rsplit("/", 1)[-1]
        rotational = Path("/sys/block") / name / "queue" / "rotational"
        if rotational.exists():
            out["rotational"] = rotational.read_text().strip() == "1"
    except OSError:
        pass
    try:
        st = os.statvfs(path)
        out["size_gb"] = round(st.f_blocks * st.f_frsize / 1e9, 1)
    except OSError:
        pass
    return out


def machine(scratch: Path | None = None) -> dict[str, Any]:
    """CPU model, cores, RAM, the scratch directory's disk, Python and OS."""
    ram = _ram_bytes()
    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_gb": round(ram / 2**30, 1) if ram else None,
        "python": f"{platform.python_implementation()} {sys.version.split()[0]}",
        "os": platform.platform(),
    }
    if scratch is not None:
        info["disk"] = _disk(scratch)
    return info


def today() -> str:
    return time.strftime("%Y-%m-%d")


@dataclass(frozen=True)
class Figure:
    """One measured figure and, when it has one, its target."""

    key: str  # the name in the JSON
    name: str  # the label in the table
    value: float
    unit: str
    target: str = ""
    passed: bool | None = None  # None: informational, no target

    def as_json(self) -> dict[str, Any]:
        return {
            "label": self.name.strip(),
            "value": self.value,
            "unit": self.unit,
            "target": self.target or None,
            "pass": self.passed,
        }


def _fmt(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:,.1f}"
    return f"{value:,.3f}"


def table(figures: list[Figure]) -> str:
    """Rows of name, value, unit, target, PASS/FAIL (blank when there is no target)."""
    rows = [("figure", "value", "unit", "target", "result")]
    for f in figures:
        verdict = "" if f.passed is None else ("PASS" if f.passed else "FAIL <<<")
        rows.append((f.name, _fmt(f.value), f.unit, f.target, verdict))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = []
    for r in rows:
        lines.append(
            f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]:<{widths[3]}}  {r[4]}".rstrip()
        )
    return "\n".join(lines)


def positive_int(text: str) -> int:
    """An argparse type: a whole number > 0, written with or without separators (1_000, 1,000)."""
    value = int(text.replace("_", "").replace(",", ""))
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive whole number")
    return value
