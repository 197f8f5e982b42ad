"""Keep compiled test modules between runs, even where ``PYTHONDONTWRITEBYTECODE`` is set.

pytest rewrites every test module's asserts and caches the result in ``__pycache__``, but
only when Python may write bytecode. With ``PYTHONDONTWRITEBYTECODE=1`` (set in some shells,
CI images and containers) it parses and rewrites all ~130 test modules on every run: the
collection of ``-m "not cluster"`` took 12 s of CPU here instead of 5-6 s. This plugin
lets this pytest process write bytecode (ignored by git: ``__pycache__/``), so only a
changed module is compiled again; the deployer's modules it imports are cached too, and
the processes the tests start (which keep the variable) read them instead of compiling
``webhook/`` each time.

``-p no:tests.plugins.bytecode`` keeps the variable's effect, for whoever needs no
``__pycache__`` written.
"""

from __future__ import annotations

import sys

# At import, first in ``pytest_plugins``: the plugins after it are cached too.
sys.dont_write_bytecode = False
