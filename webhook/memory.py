"""Give memory freed after start-up back to the system, so idle processes stay small.

Owns ``release`` only; imports the standard library only (any layer may call it).
"""

from __future__ import annotations

import ctypes
import gc


def release() -> None:
    """Collect garbage cycles, then ask glibc's malloc to return its free pages
    (``malloc_trim``): it keeps them otherwise, and they count as resident. A no-op for
    the second part where the C library has no ``malloc_trim`` (musl, macOS)."""
    gc.collect()
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)
