"""Where the processes of one deployer put their metrics, so one scrape sees them all.

prometheus_client picks its value store when it is first imported: in memory, or files in
``$PROMETHEUS_MULTIPROC_DIR`` that a scrape adds up across processes. gunicorn's workers and
``serve``'s worker are separate processes answering one ``/metrics``, so the CLI calls
``use_shared_dir()`` before it imports anything that imports prometheus_client. This module
imports nothing of the project or of prometheus_client.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile

#: The variable prometheus_client reads, at import, to pick its multi-process value store.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def use_shared_dir() -> str | None:
    """Multi-process mode for this process and the processes it starts: a fresh directory in
    ``$PROMETHEUS_MULTIPROC_DIR``, unless one is set already (then it is the setter's to
    empty at start). None, with a warning, when prometheus_client is imported already (a
    command run inside another Python program): its values then stay in this process."""
    if os.environ.get(MULTIPROC_ENV):
        return os.environ[MULTIPROC_ENV]
    if "prometheus_client" in sys.modules:
        logging.getLogger(__name__).warning(
            "prometheus_client is imported already: metrics stay per process"
        )
        return None
    path = tempfile.mkdtemp(prefix="webhook-deployer-metrics-")
    os.environ[MULTIPROC_ENV] = path
    return path
