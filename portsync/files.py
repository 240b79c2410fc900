"""Reading a file a user named, without trusting it.

A path in a config or on the command line may name a FIFO that never ends, ``/dev/zero``, a
symlink to either, a directory, or a regular file of gigabytes. :func:`read_bounded` refuses all
of them *before* reading: it opens without blocking, checks on the open descriptor (so a swap
between check and read changes nothing) that the file is a regular file no larger than the cap,
then reads at most one byte past the cap, in case the file grew meanwhile.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from portsync.errors import InputError

__all__ = ["CATALOG_CAP", "CONFIG_CAP", "PLAN_CAP", "KiB", "MiB", "read_bounded"]

KiB = 1024
MiB = 1024 * KiB

#: Size caps: far above any real file, far below what hurts (memory, time).
CONFIG_CAP = 1 * MiB
CATALOG_CAP = 1 * MiB
PLAN_CAP = 64 * MiB


def _size_text(size: int) -> str:
    if size >= MiB:
        return f"{size / MiB:.0f} MiB" if size % MiB == 0 else f"{size / MiB:.1f} MiB"
    return f"{size / KiB:.0f} KiB" if size >= KiB else f"{size} bytes"


def read_bounded(
    path: str | Path,
    *,
    limit: int,
    what: str,
    error: type[InputError] = InputError,
    hint: str | None = None,
) -> bytes:
    """The bytes of ``path``, if it is a regular file of at most ``limit`` bytes.

    Args:
        path: the file (symlinks are followed; what they point to must be a regular file).
        limit: the most bytes accepted.
        what: what the file is, for messages (``"config file"``, ``"plan file"``).
        error: the :class:`InputError` subclass to raise.
        hint: how to fix a missing or unreadable file (a default names the path).

    Returns:
        The whole content.

    Raises:
        InputError: (``error``) missing, unreadable, not a regular file, or over ``limit``.
    """
    name = str(path)
    if "\0" in name:
        raise error(
            f"{what} path {name!r} contains a NUL byte", hint="no file name can; check the path"
        )
    # O_NONBLOCK: opening a FIFO with no writer must not hang; it is refused just below.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(name, flags)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        if exc.errno == errno.ENOENT:
            reason = "no such file"
        raise error(
            f"cannot read {what} {name}: {reason}",
            hint=hint or "check the path and its permissions",
        ) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise error(
                f"{what} {name} is {kind}",
                hint="name a regular file (not a device, FIFO, socket or directory)",
            )
        if info.st_size > limit:
            raise error(
                f"{what} {name} is {_size_text(info.st_size)}, over the {_size_text(limit)} cap",
                hint="this is not a file portsync wrote or reads; check the path",
            )
        chunks: list[bytes] = []
        total = 0
        while total <= limit:
            chunk = os.read(fd, min(limit + 1 - total, 1 * MiB) or 1)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            raise error(
                f"{what} {name} grew over the {_size_text(limit)} cap while being read",
                hint="check what writes to it",
            )
        return b"".join(chunks)
    except OSError as exc:
        raise error(
            f"cannot read {what} {name}: {exc.strerror or type(exc).__name__}",
            hint=hint or "check the path and its permissions",
        ) from None
    finally:
        os.close(fd)
