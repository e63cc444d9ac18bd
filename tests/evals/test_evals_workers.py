"""evals.workers: spawned processes that each build a grader once, then run jobs on it."""

from __future__ import annotations

import operator
from functools import partial

import pytest

from evals.workers import WorkerPool
from rag.errors import GradingError


def test_jobs_run_on_each_workers_own_grader_and_come_back_in_order():
    # The "grader" is int() == 0 in each worker, and the job adds the item to it.
    with WorkerPool(int, 2) as pool:
        assert list(pool.map(operator.add, range(40), chunksize=3)) == list(range(40))
        assert pool.submit(operator.add, 7).result(timeout=60) == 7


def test_a_warm_up_job_runs_in_each_worker_before_the_pool_is_ready():
    # int() + None raises: a warm-up that fails stops the pool with the cause's hint.
    with pytest.raises(GradingError, match="failed to start"):
        WorkerPool(int, 2, warm=operator.add)


def test_a_grader_that_cannot_be_built_stops_the_pool_with_a_clear_error():
    with pytest.raises(GradingError, match=r"the 2 grading worker processes failed to start"):
        WorkerPool(partial(int, "not a number"), 2)


def test_a_pool_that_failed_to_start_leaves_nothing_running_that_breaks_the_next_one():
    with pytest.raises(GradingError):
        WorkerPool(partial(int, "not a number"), 2)
    with WorkerPool(int, 2) as pool:
        assert list(pool.map(operator.add, range(5))) == list(range(5))
