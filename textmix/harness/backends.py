"""How `textmix compare` executes a grid's independent runs: `map_unordered`, `local` or `ray` (`BACKENDS`).

Each Ray call runs in a fresh worker (`max_calls=1`: no state, GPU memory or thread setting leaks into the next
run) and is not retried (`max_retries=0`: a crash is reported at once; the sweep is resumable). Through Ray the
sweep folder, model and data must be at the same path on every worker, and textmix installed on every node; the
workers' output is in Ray's session logs (`/tmp/ray/session_latest/logs/worker-*`), a failed call's traceback
also in its exception. Each run's lock file keeps two processes (Ray workers, `--shard I/N` processes, or both)
from training the same run.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

BACKENDS = ("local", "ray")
"""The names `map_unordered(backend=...)` (and `textmix compare --backend`) accept."""

FORWARDED_ENV = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE", "TEXTMIX_SHARED", "HF_HOME",
                 "PYTHONPATH")
"""Environment variables whose current values (when set) Ray workers receive by default; `env` adds to them."""

RAY_MISSING = "--backend ray needs ray: pip install 'textmix[ray]'"

CANCEL_GRACE_S = 10.0
"""On interruption, how long cancelled calls get to clean up (release their run locks) before Ray stops."""


def ray_available() -> bool:
    """Whether `ray` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):
        return False


def map_unordered(fn: Callable[[T], R], items: Sequence[T], *, backend: str = "local", address: str | None = None,
                  num_workers: int | None = None,
                  env: Mapping[str, str] | None = None) -> Iterator[tuple[int, R | BaseException]]:
    """Call the top-level, picklable `fn(item)` for every item; yield `(index into items, result or exception)`
    as each call finishes (an exception raised by a call, or the crash of its worker, is yielded for its index;
    the other calls go on).

    `local` runs the calls in this process, in order, with `env` set in `os.environ` around each call (then
    restored; libraries that read a variable when imported will not see it). `ray` runs them in Ray workers:
    `address` None starts Ray on this machine with `num_workers` CPUs (default: this machine's), no dashboard
    and quiet logging, and shuts it down at the end; otherwise `ray.init(address=...)` joins that cluster (left
    running), and Ray already initialised in this process is used as is. At most `num_workers` calls run at
    once (default: the cluster's GPUs if it has any, else its CPUs); each gets one GPU where the cluster has
    GPUs, else one CPU, and sets `torch.set_num_threads(max(1, cpus // concurrent))` (the cores of its
    machine divided between the calls that node holds at once). `env` reaches the workers through Ray's
    `runtime_env`, on top of the current values of `FORWARDED_ENV`. A call's exception comes as the
    `RayTaskError` that is also an instance of the original's class (the remote traceback in its message); a
    worker's crash as its `ray.exceptions.RayError`.

    On KeyboardInterrupt, or when the caller stops iterating, unfinished calls are cancelled (with
    `CANCEL_GRACE_S` to release their locks) and Ray is shut down if this function started it: iterate inside
    `with contextlib.closing(map_unordered(...)) as results:` so that this happens at once when the loop's body
    raises. A `ValueError` for an unknown backend or `num_workers < 1`, an `ImportError` for `ray` without ray
    installed (both before the first call)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    if num_workers is not None and num_workers < 1:
        raise ValueError(f"num_workers must be at least 1, got {num_workers}")
    items = list(items)
    if backend == "local":
        return _map_local(fn, items, dict(env or {}))
    if not ray_available():
        raise ImportError(RAY_MISSING)
    try:
        import ray  # noqa: F401  (fail here, not at the first next(), on a broken install)
    except ImportError as error:
        raise ImportError(f"{RAY_MISSING} ({error})") from error
    if not items:  # nothing to run: do not start Ray for it
        return iter(())
    return _map_ray(fn, items, address=address, num_workers=num_workers, env=env)


@contextlib.contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    """Set `env` in `os.environ` inside the block, then restore the previous values."""
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _map_local(fn: Callable[[T], R], items: list[T], env: dict[str, str]) -> Iterator[tuple[int, R | BaseException]]:
    """The `local` backend: the calls in this process, in order."""
    for index, item in enumerate(items):
        try:
            with _environment(env):
                result: R | BaseException = fn(item)
        except Exception as error:  # noqa: BLE001 - yielded for its index, as documented
            result = error
        yield index, result


def _machine_cpus() -> int:
    """The CPUs this process may use (its affinity mask where the platform has one, else `os.cpu_count()`)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:
        return os.cpu_count() or 1


def _call_in_worker(fn: Callable[[T], R], item: T, slots_by_node: dict[str, int], default_slots: int) -> R:
    """Run inside a Ray worker: divide the machine's CPUs between the calls its node runs at once, call `fn`."""
    import ray

    slots = slots_by_node.get(ray.get_runtime_context().get_node_id(), default_slots)
    with contextlib.suppress(ImportError):
        import torch

        torch.set_num_threads(max(1, _machine_cpus() // max(1, slots)))
    return fn(item)


def _map_ray(fn: Callable[[T], R], items: list[T], *, address: str | None, num_workers: int | None,
             env: Mapping[str, str] | None) -> Iterator[tuple[int, R | BaseException]]:
    """The `ray` backend (see `map_unordered`)."""
    import ray
    from ray.exceptions import RayError, RayTaskError

    started = not ray.is_initialized()
    if started:
        quiet: dict[str, Any] = {"log_to_driver": False, "configure_logging": True, "logging_level": logging.WARNING}
        if address is None:
            ray.init(num_cpus=num_workers or _machine_cpus(), include_dashboard=False, **quiet)
        elif address.startswith("ray://"):  # Ray Client: the options above would go to the server's ray.init
            ray.init(address=address)
        else:
            ray.init(address=address, **quiet)
    pending: dict[Any, int] = {}
    try:
        resources = ray.cluster_resources()
        unit = "GPU" if resources.get("GPU", 0) > 0 else "CPU"
        concurrent = max(1, num_workers or int(resources.get(unit, 1)))
        slots_by_node = {node["NodeID"]: max(1, min(concurrent, int(node["Resources"].get(unit, 0))))
                         for node in ray.nodes() if node.get("Alive") and node["Resources"].get(unit, 0) > 0}
        options: dict[str, Any] = {"num_gpus": 1} if unit == "GPU" else {"num_cpus": 1}
        env_vars = {**{key: os.environ[key] for key in FORWARDED_ENV if os.environ.get(key)},  # then `env`
                    **{str(key): str(value) for key, value in (env or {}).items()}}
        if env_vars:
            options["runtime_env"] = {"env_vars": env_vars}
        remote = ray.remote(max_calls=1, max_retries=0)(_call_in_worker).options(**options)
        fn_ref = ray.put(fn)  # sent once, not with every call
        slots_ref = ray.put(slots_by_node)
        following = iter(enumerate(items))

        def submit(n: int) -> None:
            """Submit the next n calls (fewer when fewer are left)."""
            for index, item in itertools.islice(following, n):
                pending[remote.remote(fn_ref, item, slots_ref, concurrent)] = index

        submit(concurrent)
        while pending:
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            index = pending.pop(ref)
            submit(1)
            try:
                result: R | BaseException = ray.get(ref)
            except RayTaskError as error:
                result = error.as_instanceof_cause()
            except RayError as error:
                result = error
            yield index, result
    finally:
        # KeyboardInterrupt, GeneratorExit (the caller stopped iterating) or an error: stop what still runs.
        # A plain cancel raises KeyboardInterrupt in the running calls, so they release their run locks.
        try:
            with contextlib.suppress(Exception):
                for ref in pending:
                    ray.cancel(ref)
                if pending:
                    ray.wait(list(pending), num_returns=len(pending), timeout=CANCEL_GRACE_S)
        finally:
            if started:
                ray.shutdown()
