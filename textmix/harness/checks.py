"""Up-front checks of the harness's inputs (before a model is loaded), each saying what is wrong and how to fix
it: `problem_*` return a message or None (a grid collects every problem at once), `check_*` raise it; and
`friendly_errors`, which turns an exception into one line on stderr (the traceback on request).
"""

from __future__ import annotations

import difflib
import importlib.util
import logging
import os
import re
import sys
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

logger = logging.getLogger("textmix.harness")

_T = TypeVar("_T")


class InputError(ValueError):
    """A bad input (argument, file, grid): the message says what is wrong and how to fix it."""


def notice(message: str) -> None:
    """Tell the user something about a run: logged to `textmix.harness` at INFO, and printed to stderr (through
    `tqdm.write`, below any progress bar) by the main process (`RANK` 0 or unset), once per process."""
    logger.info(message)
    if os.environ.get("RANK", "0") == "0" and message not in _SAID:
        _SAID.add(message)
        from tqdm import tqdm

        tqdm.write(f"textmix: {message}", file=sys.stderr)
        sys.stderr.flush()


_SAID: set[str] = set()


COMPARE_EXTRA = ("PIL", "matplotlib", "scipy", "sklearn", "tqdm", "yaml")  # the `textmix[compare]` extra


def missing_compare_extra() -> str | None:
    """The error for a harness command when modules of `textmix[compare]` are not installed, or None."""
    missing = [name for name in COMPARE_EXTRA if importlib.util.find_spec(name) is None]
    if not missing:
        return None
    return (f"this command needs the harness's dependencies ({', '.join(missing)} not installed): "
            "pip install 'textmix[compare]'")


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the choice closest to `name`, or '' when none is close."""
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def unknown_key(where: str, key: str, known: Iterable[str], what: str = "key") -> str:
    """The message for an unknown `key` at `where` (a grid section), with the closest known one."""
    prefix = f"{where}: " if where else ""
    return f"{prefix}unknown {what} '{key}'{did_you_mean(key, known)}"


NAME_MAX = 64  # the longest task or method name of a grid (a folder of the sweep, a column of the report)


def problem_name(what: str, name: Any) -> str | None:
    """Why `name` cannot name a `what` (`task`, `method`) of a grid, or None: each name is a folder of the sweep."""
    if not isinstance(name, str) or not name.strip():
        return f"{what} name {name!r} must be a non-empty string."
    why = None
    if "/" in name or "\\" in name or os.path.isabs(name):
        why = "has a path separator ('/' or '\\')"
    elif ".." in name or name.startswith("."):
        why = "has '..' or starts with '.'"
    elif any(ord(c) < 32 or ord(c) == 127 for c in name):
        why = "has a control character"
    elif len(name) > NAME_MAX:
        why = f"is {len(name)} characters long (at most {NAME_MAX})"
    if why is None:
        return None
    return (f"{what} name {name!r} {why}: it names a folder of the sweep (runs/<task>/<method>/); choose a plain "
            f"name (letters, digits, '-', '_').")


def names_twice(what: str, names: Iterable[str]) -> str | None:
    """A problem when some of `names` are the same ignoring case (folders that clash on a case-insensitive file
    system; `rte` / `RTE` run one thing twice), or None."""
    seen: dict[str, list[str]] = {}
    for name in names:
        seen.setdefault(str(name).casefold(), []).append(str(name))
    twice = [group for group in seen.values() if len(group) > 1]
    if not twice:
        return None
    listed = "; ".join(" and ".join(repr(n) for n in group) for group in twice)
    return f"{what} names appear more than once (ignoring case): {listed}; each {what} needs its own name."


def problem_output_dir(path: str | os.PathLike, option: str = "--output_dir", create: bool = True) -> str | None:
    """Why `path` cannot be an output folder (a file, cannot be created, not writable), or None. With `create`
    the folder is created (as the run would) and a file written into it; else the nearest folder above is checked."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        return f"{option} {folder} is a file, not a folder: choose another path or move the file."
    if not create:
        above = folder
        while not above.exists() and above != above.parent:
            above = above.parent
        if not above.is_dir():
            return f"{option} {folder} cannot be created ({above} is a file): choose a path you can write to."
        if not os.access(above, os.W_OK | os.X_OK):
            return f"{option} {folder} is not writable ({above} is read-only): choose a path you can write to."
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        return f"{option} {folder} cannot be created ({err.strerror or err}): choose a path you can write to."
    probe = folder / f".textmix-write-test-{uuid.uuid4().hex}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        return f"{option} {folder} is not writable ({err.strerror or err}): choose a path you can write to."
    return None


_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?$")


def looks_local(name_or_path: str) -> bool:
    """Whether `name_or_path` is meant as a local folder rather than a hub id ('name' or 'org/name')."""
    text = str(name_or_path)
    if text.startswith(("/", ".", "~")) or "\\" in text or text.endswith("/") or not _HUB_ID.match(text):
        return True
    return Path(text).exists() or (("/" in text) and Path(text.split("/")[0]).is_dir())


def problem_model(name_or_path: str | None, option: str = "--model_name_or_path") -> str | None:
    """Why `name_or_path` cannot be loaded (a missing local folder, one without config.json; a hub id offline),
    or None."""
    if not name_or_path:
        return None
    path = Path(os.path.expanduser(str(name_or_path)))
    if not looks_local(str(name_or_path)):
        if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
            return (f"{option} {name_or_path} is not a local folder and the hub is offline (HF_HUB_OFFLINE): "
                    "give the path of a downloaded model folder.")
        return None
    if not path.exists():
        return f"{option}: model folder {path} does not exist: give the path of a model folder (with config.json)."
    if not path.is_dir():
        return f"{option}: {path} is a file; give the model's folder (the one holding config.json)."
    if not (path / "config.json").is_file():
        return (f"{option}: {path} has no config.json: not a Hugging Face model folder "
                "(save one with model.save_pretrained(folder)).")
    return None


def check_run(output_dir: str | os.PathLike, model: str | None) -> None:
    """Raise `InputError` (`FileNotFoundError` for a missing model folder) when the output folder or the model
    will not do (`problem_output_dir`, `problem_model`)."""
    if problem := problem_output_dir(output_dir):
        raise InputError(problem)
    if problem := problem_model(model):
        raise (FileNotFoundError if "does not exist" in problem else InputError)(problem)


def friendly_errors(main: Callable[..., _T], *args: Any, debug: bool = False, prog: str = "textmix",
                    debug_hint: str = "--debug or TEXTMIX_DEBUG=1") -> _T | int:
    """`main(*args)`; an exception printed as `prog: error: message` (exit status 2 for bad input, else 1), or
    raised with `debug` (or `TEXTMIX_DEBUG=1`)."""
    if debug or os.environ.get("TEXTMIX_DEBUG", "").lower() in ("1", "true", "yes"):
        return main(*args)
    try:
        return main(*args)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - the message is what the user needs; the traceback on request
        message = str(err) or type(err).__name__
        code = getattr(err, "exit_code", None)
        if code is None:
            code = 2 if isinstance(err, (ValueError, OSError)) else 1
            if code == 1:
                message = f"{type(err).__name__}: {message}"
        print(f"{prog}: error: {message}\n(for the traceback, run again with {debug_hint})", file=sys.stderr)
        return code


def typed_command(script: str, module: str) -> str:
    """The command the user typed to start a recipe (`python <argv[0]>` for the launcher `script`, `python -m
    <module>` for the module's file, else `python <script>`), for its messages."""
    argv0 = sys.argv[0] if sys.argv else ""
    if Path(argv0).name == Path(script).name:
        return f"python {argv0}"
    if Path(argv0).name == module.rsplit(".", 1)[-1] + ".py":
        return f"python -m {module}"
    return f"python {script}"

