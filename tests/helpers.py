"""Picklable task functions for executor tests (worker processes import them)."""

import os
import time


def square(x):
    return x * x


def fail_on_13(x):
    if x == 13:
        raise ValueError("unlucky 13")
    return x


def nap(seconds):
    time.sleep(seconds)
    return os.getpid()
