"""Worker processes that each build their own grader, for CPU-bound offline work spread over the cores.

The offline grader is Python and torch on the CPU; threads share one interpreter lock, so parallel grading
needs processes. Each worker builds its grader once from a picklable recipe (a module-level function, or a
`functools.partial` of one) and then runs `job(grader, item)` for the items it is sent. The processes are
spawned, not forked: a fork would inherit torch's thread pool in an unusable state.
"""

from __future__ import annotations

import itertools
import multiprocessing
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from evals.config import usable_cores
from rag.errors import GradingError

START_TIMEOUT_S = 300
"""How long building and warming every worker's grader may take (models load in each)."""

GraderRecipe = Callable[[], Any]
Job = Callable[[Any, Any], Any]

# The worker process's own grader, set once by `_start`.
_grader: list[Any] = []


def _start(recipe: GraderRecipe, warm: Job | None, torch_threads: int, ready: Any) -> None:
    """Build the worker's grader with its share of the cores, warm it, and wait until every worker is ready."""
    import torch

    try:
        torch.set_num_threads(torch_threads)
        grader = recipe()
        if warm is not None:
            warm(grader, None)
    except BaseException:
        ready.abort()
        raise
    _grader.append(grader)
    ready.wait()


def _run(job: Job, item: Any) -> Any:
    return job(_grader[0], item)


def _no_op() -> None:
    return None


class WorkerPool:
    """`workers` processes, each with a grader from `recipe` and an equal share of the cores as torch threads.

    The constructor returns once every worker has built (and with `warm`, warmed) its grader, so a timed loop
    started after it times the work only. Use as a context manager; leaving it cancels what has not started.
    """

    def __init__(self, recipe: GraderRecipe, workers: int, warm: Job | None = None) -> None:
        context = multiprocessing.get_context("spawn")
        ready = context.Barrier(workers + 1)
        self._pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=_start,
            initargs=(recipe, warm, max(1, usable_cores() // workers), ready),
        )
        for _ in range(workers):
            self._pool.submit(_no_op)
        try:
            ready.wait(timeout=START_TIMEOUT_S)
        except threading.BrokenBarrierError as exc:
            # Wait for every worker to leave `_start` (the broken barrier ends each one): a worker still running
            # after `ready` is freed could write to shared memory the next pool's barrier is given.
            self._pool.shutdown(wait=True, cancel_futures=True)
            raise GradingError(
                f"the {workers} grading worker processes failed to start (the cause is printed above) or took "
                f"over {START_TIMEOUT_S} s; one process (--concurrency 1 where offered) shows the error here"
            ) from exc

    def submit(self, job: Job, item: Any) -> Future:
        """Run `job(grader, item)` in a worker."""
        return self._pool.submit(_run, job, item)

    def map(self, job: Job, items: Iterable[Any], chunksize: int = 8) -> Iterator[Any]:
        """`job(grader, item)` for every item, results in the items' order as they become ready."""
        return self._pool.map(_run, itertools.repeat(job), items, chunksize=chunksize)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def worker_pool(recipe: GraderRecipe, workers: int) -> AbstractContextManager[WorkerPool | None]:
    """A `WorkerPool` of `workers` processes to use in a `with`, or None (work in this process) for one worker."""
    return WorkerPool(recipe, workers) if workers > 1 else nullcontext()
