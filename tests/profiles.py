"""How hard the suite tries: the ``ci`` profile (``scripts/test``, CI) and the ``quick`` default.

``scripts/test`` sets ``HYPOTHESIS_PROFILE=ci``: every property test runs the example count
it names and every race its full rounds. A plain ``pytest`` loads ``quick``: a few
examples and rounds, so the same tests still run every path but in seconds. The count a
test names is its CI strength; ``examples`` and ``rounds`` only ever lower it, and only here.
``--hypothesis-profile=ci`` (hypothesis' own option) selects the full run too.
"""

from __future__ import annotations

import os

from hypothesis import settings

#: The most examples a property test runs under ``quick``.
QUICK_EXAMPLES = 10

settings.register_profile("ci", settings.get_profile("default"), deadline=None, print_blob=True)
settings.register_profile("quick", settings.get_profile("ci"), max_examples=QUICK_EXAMPLES)
_chosen = os.environ.get("HYPOTHESIS_PROFILE", "quick")
if _chosen not in ("ci", "quick"):
    raise SystemExit(f"HYPOTHESIS_PROFILE={_chosen!r}: the suite knows `ci` and `quick`")
settings.load_profile(_chosen)


def quick() -> bool:
    """Whether the ``quick`` profile is loaded (read when a test module is imported, after
    pytest's options have loaded theirs)."""
    return settings.get_current_profile_name() == "quick"


def examples(full: int) -> int:
    """``full`` examples under ``ci``; at most ``QUICK_EXAMPLES`` under ``quick``."""
    return min(full, QUICK_EXAMPLES) if quick() else full


def rounds(full: int, quick_rounds: int = 3) -> int:
    """``full`` repetitions of a race under ``ci``; ``quick_rounds`` under ``quick``."""
    return min(full, quick_rounds) if quick() else full
