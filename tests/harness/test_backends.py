"""textmix.harness.backends: the local backend, and the ray backend on this machine (one Ray start for all)."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from textmix.harness import backends
from textmix.harness.backends import BACKENDS, map_unordered

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `pytest` (unlike `python -m pytest`) does not put the checkout on sys.path
    sys.path.insert(0, str(ROOT))
fns = importlib.import_module("tests.harness.backend_fns")  # the name the Ray workers import it by


def test_local_yields_results_in_order_and_exceptions_per_item():
    out = list(map_unordered(fns.read_env, ["HOME", 3, "PATH"], backend="local"))
    assert [i for i, _ in out] == [0, 1, 2]
    assert out[0][1] == os.environ.get("HOME") and out[2][1] == os.environ.get("PATH")
    assert isinstance(out[1][1], TypeError)  # os.environ.get(3): one bad item does not stop the others


def test_local_sets_env_around_each_call_only(monkeypatch):
    monkeypatch.delenv(fns.ENV_NAME, raising=False)
    out = list(map_unordered(fns.read_env, [fns.ENV_NAME], env={fns.ENV_NAME: "local"}))
    assert out == [(0, "local")] and fns.ENV_NAME not in os.environ


def test_unknown_backend_and_bad_num_workers_are_refused_before_any_call():
    assert BACKENDS == ("local", "ray")
    with pytest.raises(ValueError, match="local, ray"):
        map_unordered(fns.read_env, ["HOME"], backend="dask")
    with pytest.raises(ValueError, match="num_workers"):
        map_unordered(fns.read_env, ["HOME"], backend="ray", num_workers=0)


def test_missing_ray_is_a_clear_import_error(monkeypatch):
    monkeypatch.setattr(backends, "ray_available", lambda: False)
    with pytest.raises(ImportError, match=r"pip install 'textmix\[ray\]'"):
        map_unordered(fns.read_env, ["HOME"], backend="ray")


def test_importing_the_module_does_not_import_ray():
    code = "import sys, textmix.harness.backends; print('ray' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "False"


ITEMS = [1, 3, -1, fns.CRASH]
"""Two successes (submitted together, so they must meet at the barrier), one exception, one worker crash: one
map call (one Ray start) for all."""


@pytest.fixture(scope="module")
def ray_run(tmp_path_factory):
    """Run `work` on ITEMS through the ray backend with 2 workers, the successes meeting at a file barrier;
    what came back, and Ray's state after."""
    ray = pytest.importorskip("ray", reason="the ray backend needs ray (pip install 'textmix[ray]')")
    pythonpath = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    barrier = tmp_path_factory.mktemp("barrier")
    out = list(map_unordered(fns.work, ITEMS, backend="ray", num_workers=2,
                             env={"PYTHONPATH": pythonpath, fns.ENV_NAME: "sent", fns.BARRIER_ENV: str(barrier)}))
    return {"out": out, "initialized_after": ray.is_initialized(), "ray": ray}


@pytest.mark.slow
def test_ray_returns_every_result_once_with_correct_values(ray_run):
    out = dict(ray_run["out"])
    assert len(ray_run["out"]) == len(ITEMS) and sorted(out) == list(range(len(ITEMS)))
    for index, item in enumerate(ITEMS):
        if item >= 0:
            assert isinstance(out[index], dict), f"item {item}: {out[index]!r}"
            assert out[index]["value"] == item * 2


@pytest.mark.slow
def test_ray_runs_calls_in_several_processes_at_once(ray_run):
    """Concurrency by what the workers saw, not by the clock: each success waited at a file barrier until the
    other had arrived, so both processes were alive at once (one worker at a time would time out there)."""
    done = [r for _, r in ray_run["out"] if isinstance(r, dict)]
    pids = {r["pid"] for r in done}
    assert len(done) == 2 and len(pids) == 2 and os.getpid() not in pids
    assert not any(r["timed_out"] for r in done), done
    for r in done:  # each saw the other's file (pid-item) while it waited
        assert r["others"] == [f"{o['pid']}-{o['value'] // 2}" for o in done if o is not r], done
    assert all(r["threads"] == max(1, backends._machine_cpus() // 2) for r in done)  # cores split between 2


@pytest.mark.slow
def test_ray_yields_an_exception_or_a_crash_for_its_item_only(ray_run):
    out = dict(ray_run["out"])
    error = out[ITEMS.index(-1)]
    assert isinstance(error, ValueError) and "negative item -1" in str(error)
    crash = out[ITEMS.index(fns.CRASH)]
    assert isinstance(crash, ray_run["ray"].exceptions.RayError), crash
    assert not isinstance(crash, ValueError)


@pytest.mark.slow
def test_ray_passes_env_to_the_workers_and_shuts_down_what_it_started(ray_run):
    assert {r["env"] for _, r in ray_run["out"] if isinstance(r, dict)} == {"sent"}
    assert ray_run["initialized_after"] is False
