"""A workload whose task raises (registered only in tests, via an entry point)."""

from workloads.base import Workload


def task(item):
    if item == 7:
        raise ValueError("task 7 refuses to run")
    return item


class Raising(Workload):
    name = "raising"
    description = "raises on item 7"
    default_size = 20
    task = staticmethod(task)

    def items(self, size):
        return range(size)

    def reduce(self, results):
        return sum(results)

    def verify(self, answer, size, **params):
        return answer == size * (size - 1) // 2
