"""Run one function over many work items: on Ray (local by default, or a cluster by address) or in-process.

Ray tasks are retried when a worker dies (``max_retries``); a rich progress bar tracks completed items. Each
task, or each worker, holds the given ``resources`` (``{"num_gpus": 1}``: one GPU per task). With ``setup``
each worker builds a state once (a loaded model, say) and every call gets it as its last argument: on Ray the
workers are then a pool of actors (restarted when they die).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

T = TypeVar("T")
R = TypeVar("R")


def progress_bar() -> Progress:
    """A progress bar on stderr (stdout carries results only)."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"),
        transient=False,
        console=Console(stderr=True),
    )


def ensure_ray(address: str | None, workers: int | None) -> None:
    """Connect to ``address`` or start a quiet local Ray with ``workers`` CPUs (no-op if already up)."""
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    # Ray starts workers at nice 15; here the workers *are* the job, so give them normal priority
    # (on a shared machine they were otherwise starved by every other process).
    os.environ.setdefault("RAY_worker_niceness", "0")
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    kwargs: dict[str, Any] = {"logging_level": "WARNING", "log_to_driver": False}
    if address:
        ray.init(address=address, **kwargs)
        return
    ray.init(
        num_cpus=workers or os.cpu_count() or 1,
        object_store_memory=256 * 1024 * 1024,
        include_dashboard=False,
        _temp_dir=os.path.join(tempfile.gettempdir(), "curation-ray"),
        **kwargs,
    )


def _ray_results(
    fn: Callable[..., R],
    items: Sequence[T],
    args: tuple[Any, ...],
    max_in_flight: int,
    retries: int,
    resources: dict[str, float],
) -> Iterator[tuple[T, R]]:
    import ray

    remote = ray.remote(max_retries=retries, retry_exceptions=False, **resources)(fn)
    todo = list(items)
    running: dict[Any, T] = {}
    while todo or running:
        while todo and len(running) < max_in_flight:
            item = todo.pop(0)
            running[remote.remote(item, *args)] = item
        done, _ = ray.wait(list(running), num_returns=1)
        for ref in done:
            item = running.pop(ref)
            yield item, ray.get(ref)


class _StatefulWorker:
    """A Ray actor holding ``setup()``'s state for the calls it serves."""

    def __init__(self, setup: Callable[[], Any]) -> None:
        self.state = setup()

    def call(self, fn: Callable[..., R], item: T, *args: Any) -> tuple[T, R]:
        return item, fn(item, *args, self.state)


def _ray_actor_results(
    fn: Callable[..., R],
    items: Sequence[T],
    args: tuple[Any, ...],
    setup: Callable[[], Any],
    resources: dict[str, float],
    slots: int,
    retries: int,
) -> Iterator[tuple[T, R]]:
    import ray
    from ray.util import ActorPool

    worker = ray.remote(max_restarts=retries, max_task_retries=retries)(_StatefulWorker)
    actors = [worker.options(**resources).remote(setup) for _ in range(max(1, min(len(items), slots)))]
    yield from ActorPool(actors).map_unordered(lambda actor, item: actor.call.remote(fn, item, *args), items)


def map_items(
    fn: Callable[..., R],
    items: Sequence[T],
    *args: Any,
    executor: str = "ray",
    ray_address: str | None = None,
    workers: int | None = None,
    description: str = "working",
    info: Callable[[R], str] | None = None,
    retries: int = 3,
    setup: Callable[[], Any] | None = None,
    resources: dict[str, float] | None = None,
) -> Iterator[tuple[T, R]]:
    """Yield ``(item, fn(item, *args))`` (``fn(item, *args, state)`` with ``setup``) as items finish."""
    if executor == "local":
        state = (setup(),) if setup and items else ()
        results: Iterator[tuple[T, R]] = ((item, fn(item, *args, *state)) for item in items)
    else:
        ensure_ray(ray_address, workers)
        import ray

        resources = resources or {"num_cpus": 1}
        kind = "GPU" if resources.get("num_gpus") else "CPU"
        slots = workers or int(ray.cluster_resources().get(kind, 1))
        if setup is None:
            results = _ray_results(fn, items, args, 2 * slots, retries, resources)
        else:
            results = _ray_actor_results(fn, items, args, setup, resources, slots, retries)
    with progress_bar() as bar:
        task = bar.add_task(description, total=len(items), info="")
        for item, result in results:
            bar.update(task, advance=1, info=info(result) if info else "")
            yield item, result
