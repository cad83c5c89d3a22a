"""Picklable task functions for executor tests (worker processes import them), and process checks."""

import os
import time

import psutil


def square(x):
    return x * x


def fail_on_13(x):
    if x == 13:
        raise ValueError("unlucky 13")
    return x


def nap(seconds):
    time.sleep(seconds)
    return os.getpid()


def command_line(process):
    try:
        return " ".join(process.cmdline())
    except psutil.Error:  # gone, or a zombie
        return ""


def alive(process):
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def still_running(members, wait_s=10):
    """Those of ``members`` still alive after up to ``wait_s`` seconds (zombies count as ended)."""
    deadline = time.monotonic() + wait_s
    while True:
        alive_now = [p for p in members if alive(p)]
        if not alive_now or time.monotonic() > deadline:
            return alive_now
        time.sleep(0.1)


def user_environ() -> dict[str, str]:
    """This process's environment as a user's shell has it: without the variables of the test run's own
    processes (pytest-xdist's, which pytest-benchmark in a pytest started from a test would take for its own)."""
    return {name: value for name, value in os.environ.items() if not name.startswith("PYTEST_XDIST")}


def ray_folders_left(before: set, wait_s: float = 10.0) -> list:
    """Local Rays' folders in /tmp (``bench-ray-<pid>-*``) that appeared since ``before`` and belong to a
    process that has ended, after up to ``wait_s`` for them to go (other tests may run a Ray meanwhile)."""
    from pathlib import Path

    deadline = time.monotonic() + wait_s
    while True:
        left = []
        for path in set(Path("/tmp").glob("bench-ray-*")) - before:
            pid = path.name.split("-")[2]
            if not pid.isdigit() or not psutil.pid_exists(int(pid)):
                left.append(str(path))
        if not left or time.monotonic() > deadline:
            return sorted(left)
        time.sleep(0.2)
