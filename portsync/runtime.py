"""Process-wide settings for a portsync run (the command line, and benchmarks timing it).

Reading a large fleet allocates millions of short-lived objects (SDK models, dicts, rules). With
CPython's default thresholds the cyclic garbage collector runs every 700 allocations and now and
then walks every live object, which cost a third of a 1,000-NSG plan. A run is short and its
objects live until it ends, so collecting less often costs little memory and a lot less time.
"""

from __future__ import annotations

import gc

__all__ = ["GC_THRESHOLDS", "tune_gc"]

#: Young-generation allocations between collections, and how many young (then middle)
#: collections between older ones. CPython's defaults are (700, 10, 10).
GC_THRESHOLDS = (100_000, 20, 20)


def tune_gc() -> None:
    """Collect less often for the rest of the process, and never re-scan what exists now (the
    imported modules). Meant for a process that is one portsync run, not for a library host."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
