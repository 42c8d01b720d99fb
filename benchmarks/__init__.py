"""Sifang's benchmarks: each figure against a baseline measured in the same run (``make bench``)."""

import os
import platform
import sys
from pathlib import Path

__all__ = ["machine"]


def machine() -> str:
    """CPU model, cores, memory, OS, Python and the load average now."""
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kilobytes = int(meminfo.read_text().split()[1])
        memory = f", {kilobytes / 1024 / 1024:.0f} GiB"
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return (
        f"{model}, {os.cpu_count()} CPUs{memory}, {platform.system()} {platform.release()}, "
        f"Python {sys.version.split()[0]}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
