"""Saved plan files as untrusted input: bounded reading and optional signing.

A plan file travels between a ``plan`` job and an ``apply`` job, often through an artifact store
that other people (or other jobs) can write to. Two things are done here, before the plan's
content is looked at:

* the file must be a regular file no larger than :data:`portsync.files.PLAN_CAP`; a symlink
  to ``/dev/zero``, a FIFO or a directory is refused without reading it
  (:func:`read_plan_bytes`);
* with ``PORTSYNC_PLAN_KEY`` set, plans carry an HMAC-SHA256 over their content, and an unsigned
  or wrongly signed plan is refused. The checksum every plan carries only catches accidents:
  anyone can recompute it.

Neither replaces the check that matters most: apply recomputes the plan from the config and the
live state and refuses a file whose operations differ (``portsync.planmatch``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from typing import Any

from portsync import files
from portsync.errors import InputError, PlanFileError

__all__ = [
    "PLAN_KEY_ENV",
    "SIGNATURE_ALGORITHM",
    "check_signature",
    "content_bytes",
    "plan_key",
    "read_plan_bytes",
    "signature",
]

#: The environment variable holding the shared secret plans are signed with.
PLAN_KEY_ENV = "PORTSYNC_PLAN_KEY"

SIGNATURE_ALGORITHM = "hmac-sha256"

#: Shorter keys are refused: a signature is only as strong as a guess of its key is hard.
MIN_KEY_LENGTH = 16

#: Fields that are about the content rather than part of it.
_ENVELOPE = ("checksum", "signature")


def content_bytes(body: dict[str, Any]) -> bytes:
    """The canonical bytes of a plan object, without its checksum and signature."""
    content = {k: v for k, v in body.items() if k not in _ENVELOPE}
    return json.dumps(content, sort_keys=True, ensure_ascii=False).encode()


def plan_key() -> bytes | None:
    """The signing key from ``PORTSYNC_PLAN_KEY``, or None when it is not set.

    Raises:
        InputError: the variable is set but empty or too short (a CI secret that did not reach
            the job must not silently turn signing off).
    """
    value = os.environ.get(PLAN_KEY_ENV)
    if value is None:
        return None
    if len(value) < MIN_KEY_LENGTH:
        what = "empty" if not value else f"only {len(value)} characters long"
        raise InputError(
            f"{PLAN_KEY_ENV} is set but {what}",
            hint=f"set it to a secret of at least {MIN_KEY_LENGTH} characters "
            "(e.g. `openssl rand -hex 32`), or unset it to work without signed plans",
        )
    return value.encode()


def signature(body: dict[str, Any], key: bytes) -> dict[str, str]:
    """The ``signature`` object of a plan: HMAC-SHA256 of its content under ``key``."""
    digest = hmac.new(key, content_bytes(body), hashlib.sha256).hexdigest()
    return {"algorithm": SIGNATURE_ALGORITHM, "value": digest}


def check_signature(data: dict[str, Any], source: str) -> None:
    """Refuse a plan that is unsigned or wrongly signed while ``PORTSYNC_PLAN_KEY`` is set.

    Without a key nothing is checked (a signature present is ignored: it cannot be verified).

    Raises:
        PlanFileError: the signature is missing, malformed or does not match.
        InputError: the key variable is set but unusable.
    """
    key = plan_key()
    if key is None:
        return
    found = data.get("signature")
    hint = (
        f"make the plan again with `portsync plan --out PLAN.json` with the same {PLAN_KEY_ENV}; "
        "never apply a plan whose origin you cannot vouch for"
    )
    if found is None:
        raise PlanFileError(
            f"{source}: the plan is not signed, and {PLAN_KEY_ENV} is set: only signed plans "
            "are applied",
            hint=hint,
        )
    value = found.get("value") if isinstance(found, dict) else None
    if (
        not isinstance(found, dict)
        or found.get("algorithm") != SIGNATURE_ALGORITHM
        or not isinstance(value, str)
    ):
        raise PlanFileError(
            f"{source}: the plan's signature is malformed (expected {SIGNATURE_ALGORITHM})",
            hint=hint,
        )
    wanted = signature(data, key)["value"]
    if not hmac.compare_digest(value.encode(), wanted.encode()):
        raise PlanFileError(
            f"{source}: the plan's signature does not match its content under {PLAN_KEY_ENV}: "
            "it was changed after it was signed, or signed with another key",
            hint=hint,
        )


def read_plan_bytes(path: str) -> bytes:
    """The bytes of the plan file ``path``: a regular file of at most
    :data:`portsync.files.PLAN_CAP` bytes, refused unread otherwise.

    Raises:
        PlanFileError: missing, unreadable, not a regular file, or too large.
    """
    return files.read_bounded(
        path,
        limit=files.PLAN_CAP,
        what="plan file",
        error=PlanFileError,
        hint="plan files are written by `portsync plan --out PLAN.json`; check the path",
    )
