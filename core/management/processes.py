"""What a benchmark reads of this machine's processes from /proc: their parents, process groups and CPU time.

Benchmarks share the machine's cores with the servers they measure (gunicorn, PostgreSQL), so they count those
servers' CPU as well as their own; where /proc is missing, the readers say so (OSError, or a process left out).
"""

import os
from pathlib import Path


def proc_stat(pid: int) -> list[str]:
    """/proc/<pid>/stat's fields after the process's name: state [0], ppid [1], pgrp [2], …, utime [11], stime [12],
    cutime [13], cstime [14] (in clock ticks). Raises OSError for a process that is gone."""
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()


def ticks_to_seconds(ticks: int) -> float:
    return ticks / os.sysconf("SC_CLK_TCK")


def _processes_where(field: int, value: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = proc_stat(int(entry.name))
            except OSError:
                continue  # gone while we looked
            if int(fields[field]) == value:
                pids.append(int(entry.name))
    return pids


def process_group(pgid: int) -> list[int]:
    """The processes of a process group (gunicorn's master and workers); [] where there is none."""
    return _processes_where(2, pgid)


def children(ppid: int) -> list[int]:
    """The processes `ppid` started that are still running (PostgreSQL's backends, under its postmaster)."""
    return _processes_where(1, ppid)


def cpu_seconds_of(pids: list[int]) -> dict[int, float]:
    """User + system CPU seconds each process has used so far (processes already gone are left out)."""
    seconds = {}
    for pid in pids:
        try:
            fields = proc_stat(pid)
        except OSError:
            continue
        seconds[pid] = ticks_to_seconds(int(fields[11]) + int(fields[12]))
    return seconds


def cpu_since(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between two readings; a process that started in between counts in full."""
    return round(sum(used - before.get(pid, 0.0) for pid, used in after.items()), 2)
