"""What a start/stop cycle may leave behind: trio tasks, threads, fds, TCP sockets."""

from __future__ import annotations

import os
import threading

import psutil
import trio


def task_count() -> int:
    """Every task in this trio run, system tasks included (walk from the root task)."""
    count, stack = 0, [trio.lowlevel.current_root_task()]
    while stack:
        task = stack.pop()
        count += 1
        for nursery in task.child_nurseries:
            stack.extend(nursery.child_tasks)
    return count


def resources() -> dict[str, int]:
    """Counts to compare before and after a cycle."""
    me = psutil.Process()
    tcp = me.net_connections(kind="tcp")
    return {"tasks": task_count(),
            "threads": threading.active_count(),
            "fds": len(os.listdir("/proc/self/fd")),
            "tcp_sockets": len(tcp),
            "listening": sum(c.status == psutil.CONN_LISTEN for c in tcp)}
