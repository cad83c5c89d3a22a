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
