"""Pausing the cyclic garbage collector around work whose objects all live to its end.

Pyomo creates many small cyclic objects, and a single solve or validation keeps nearly
everything it allocates (the imported libraries, the instance, the model) to its end:
collections while building, handing off or reading a model rescan it for little garbage.
Kept apart from the model so that the CLI can use it without importing Pyomo.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["gc_paused"]


@contextmanager
def gc_paused() -> Iterator[None]:
    """Disable the cyclic collector inside the block; restore its state after."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
