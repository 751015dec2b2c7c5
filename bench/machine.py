"""What machine a benchmark ran on, printed with every figure."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def describe() -> str:
    """CPU model, cores, memory, OS and Python, on one line."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    uname = platform.uname()
    return (
        f"{uname.node}: {cpu}, {os.cpu_count()} cores{memory}, {uname.system} {uname.release} "
        f"{uname.machine}, {platform.python_implementation()} {platform.python_version()}"
    )
