"""prometheus-client's multiprocess directory. Kept apart from ``metrics``: the variable must be set
before prometheus-client is first imported, which fixes its storage at import time."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare(directory: Path) -> None:
    """Called once by the serving parent before any worker starts: a fresh directory that every
    worker process inherits through the environment."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True)
    os.environ[MULTIPROC_ENV] = str(directory.resolve())
