"""Crash logs: the traceback of a bug, kept privately for the bug report.

The log goes to the user's state folder — ``$XDG_STATE_HOME/portsync`` or
``~/.local/state/portsync`` — never to a shared temporary folder, in a file only its owner can
read (0600, created exclusively, so an existing file or a planted symlink is never written
through), and it is redacted like every other output.
"""

from __future__ import annotations

import os
import traceback
from datetime import UTC, datetime
from pathlib import Path

from portsync.redact import redact

__all__ = ["state_dir", "write_crash_log"]


def state_dir() -> Path:
    """portsync's folder in the user's state folder (not created)."""
    base = os.environ.get("XDG_STATE_HOME", "").strip()
    # The XDG rule: a relative XDG_STATE_HOME is invalid and ignored.
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".local" / "state"
    return root / "portsync"


def write_crash_log(exc: BaseException) -> Path:
    """Write the redacted traceback of ``exc`` to a new private file; return its path.

    Raises:
        OSError: the state folder cannot be created or written.
    """
    folder = state_dir()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    text = redact("".join(traceback.format_exception(exc)))
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    for attempt in range(100):
        path = folder / f"crash-{stamp}-{os.getpid()}-{attempt}.log"
        try:
            fd = os.open(path, flags, 0o600)
        except FileExistsError:
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        return path
    raise FileExistsError(f"no free crash-log name in {folder}")
