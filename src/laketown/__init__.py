"""Laketown: a local-first lakehouse and five data-driven apps on it.

``laketown.connect()`` gives the workspace object that the CLI and the server use too.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

# Arrow's joins and group-bys (Acero) print a warning for every input buffer that is not 64-byte
# aligned, which buffers decoded from stream records often are; copy those buffers instead.
os.environ.setdefault("ACERO_ALIGNMENT_HANDLING", "reallocate")

__version__ = "0.1.0"

if TYPE_CHECKING:
    from laketown.workspace import Workspace


def connect(path_or_config: Any = None, **settings: Any) -> Workspace:
    """Open (and create if needed) a workspace: a folder path, a ``laketown.toml`` path, a
    :class:`~laketown.config.Settings`, or nothing for ``LAKETOWN__WORKSPACE`` / ``./laketown-data``."""
    from laketown.workspace import Workspace

    return Workspace.open(path_or_config, **settings)


__all__ = ["connect", "__version__"]
