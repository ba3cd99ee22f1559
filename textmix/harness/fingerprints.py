"""Content fingerprints of a run's data files and model weights (`data_fingerprint`, `model_fingerprint`): what
identifies its inputs independent of their paths, part of a sweep's run keys. A file's SHA-256 is cached in
`cache_file()` by its path, size, modification and status-change times and inode, so a sweep does not re-read
gigabytes of weights for every run, and a file edited in place or replaced is hashed again (the status-change
time cannot be set back). A hub model id or dataset name is identified by its name."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .runfile import write_json_atomic

_CHUNK = 2**20
_memory: dict[str, dict[str, Any]] = {}
_pending: dict[str, dict[str, Any]] = {}
_loaded: set[Path] = set()

MODEL_FILES = (".json", ".txt", ".model", ".tiktoken", ".py", ".safetensors", ".bin", ".pt", ".pth", ".msgpack",
               ".h5")
"""The files of a model folder whose content identifies the model (config, tokenizer, weights)."""


def cache_file() -> Path:
    """Where content hashes are cached: `$XDG_CACHE_HOME/textmix/file_digests.json` (default `~/.cache`)."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "textmix" / "file_digests.json"


def _stamp(stat: os.stat_result) -> list[int]:
    return [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino]


def _digest(path: Path) -> str:
    """`file_digest` without writing the cache file (new hashes wait in `_pending`)."""
    path = path.resolve()
    stamp = _stamp(path.stat())
    cache = cache_file()
    if cache not in _loaded:
        _loaded.add(cache)
        try:
            _memory.update(json.loads(cache.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            pass  # no cache yet, or a damaged one: rebuilt as files are hashed
    hit = _memory.get(str(path))
    if isinstance(hit, dict) and hit.get("stamp") == stamp and isinstance(hit.get("sha256"), str):
        return hit["sha256"]
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_CHUNK):
            digest.update(block)
    _memory[str(path)] = _pending[str(path)] = {"stamp": stamp, "sha256": digest.hexdigest()}
    return digest.hexdigest()


def _save() -> None:
    """Add the hashes computed since the last save to the cache file (keeping what other processes added,
    dropping files that no longer exist)."""
    if not _pending:
        return
    cache = cache_file()
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        try:
            on_disk = json.loads(cache.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            on_disk = {}
        merged = {**(on_disk if isinstance(on_disk, dict) else {}), **_pending}
        write_json_atomic(cache, {k: v for k, v in merged.items() if os.path.exists(k)})  # removed files go
    except OSError:
        pass  # a read-only cache folder: hashes are recomputed next time, results are the same
    _pending.clear()


def file_digest(path: str | os.PathLike) -> str:
    """The SHA-256 of the file `path`'s content (hex), from the cache when the file is unchanged."""
    try:
        return _digest(Path(path))
    finally:
        _save()


def path_fingerprint(path: str | os.PathLike) -> str:
    """The content of a file or of every file under a folder (names relative to it), or `missing`."""
    path = Path(path)
    if path.is_file():
        return file_digest(path)[:16]
    return _files_digest(path, (p for p in path.rglob("*") if p.is_file())) if path.is_dir() else "missing"


def _files_digest(folder: Path, files: Iterable[Path]) -> str:
    """The content of `files` under `folder`, by their names relative to it (the cache saved once, not a file)."""
    digest = hashlib.sha256()
    try:
        for item in sorted(files):
            digest.update(f"{item.relative_to(folder).as_posix()}:{_digest(item)}\0".encode())
    finally:
        _save()
    return digest.hexdigest()[:16]


def model_fingerprint(name_or_path: str) -> str:
    """What identifies a model, independent of its path: the content of a local folder's `MODEL_FILES`
    (config, tokenizer and weights); a hub id as it is."""
    folder = Path(name_or_path).expanduser()
    if not folder.is_dir():
        return f"id:{name_or_path}"
    return "folder:" + _files_digest(folder, (p for p in folder.iterdir() if p.is_file() and p.suffix in MODEL_FILES))


def data_fingerprint(data: Mapping[str, Any]) -> str:
    """What identifies a task's data (the recipe's data arguments `data`), independent of where it is: the
    content of its files (`FILE_FIELDS`, a GLUE task's files in `glue_dir`, a local `dataset_name` folder, the
    `ood_test_files` with how each is read), or the hub's name."""
    from .data.glue import glue_task
    from .tasks import FILE_FIELDS

    ood = data.get("ood_test_files")
    extra = "".join(_ood_part(name, given) for name, given in (ood.items() if isinstance(ood, Mapping) else ()))
    if data.get("task_name"):
        spec = glue_task(data["task_name"])
        glue_dir = data.get("glue_dir")
        if not glue_dir:
            return f"hub:nyu-mll/glue/{spec.name}{extra}"
        folder = Path(glue_dir) / spec.folder
        names = ["train.tsv", *spec.test_files.values()]
        return spec.name + ":" + ",".join(f"{n}={path_fingerprint(folder / n)}" for n in names) + extra
    parts = [f"{key}={Path(data[key]).name}:{path_fingerprint(data[key])}" for key in FILE_FIELDS if data.get(key)]
    if data.get("dataset_name"):
        name = data["dataset_name"]
        where = f"folder:{path_fingerprint(name)}" if Path(name).is_dir() else f"hub:{name}"
        parts.append(f"{where}/{data.get('dataset_config_name')}")
    return ",".join(parts) + extra


def _ood_part(name: str, given: Any) -> str:
    """A further test file's part of `data_fingerprint` (`ood_test_files`): its name, content and whether it has a
    header (a missing file is `missing`: the grid's checks name it)."""
    path, header = (given.get("path"), given.get("header", True)) if isinstance(given, Mapping) else (given, True)
    return f",ood_{name}={Path(str(path)).name}:{'no header' if header is False else 'header'}:{path_fingerprint(str(path))}"
