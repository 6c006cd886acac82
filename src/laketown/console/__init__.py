"""The web console: catalog browser, SQL editor with result grid and chart, and the pages
apps add. Served by the same app as the API; every script and style comes from
``console/static`` (no CDN), pages from Jinja2 templates in a sandboxed, autoescaping
environment."""

from laketown.console.pages import mount_console, register_templates, render_page

__all__ = ["mount_console", "register_templates", "render_page"]
