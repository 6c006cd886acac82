"""The HTTP server: a thin FastAPI skin over the :class:`~laketown.workspace.Workspace`.

``create_app(ws)`` builds the app (API, docs, console); ``serve(ws)`` runs it with uvicorn on
``settings.server.host``/``port`` (127.0.0.1 by default). Apps add their routers and console
pages with :func:`mount_app_page`.
"""

from laketown.server.app import create_app
from laketown.server.auth import current_principal, current_workspace
from laketown.server.nav import mount_app_page
from laketown.server.serving import serve

__all__ = ["create_app", "current_principal", "current_workspace", "mount_app_page", "serve"]
