"""Laketown errors -> HTTP answers ``{"detail": message}``: unknown table 404, any other
error Laketown raises on purpose (bad name, refused SQL, bad value) 400."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from laketown.errors import LaketownError, MissingExtraError, TableNotFoundError


async def _not_found(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=404)


async def _bad_request(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=400)


async def _server_side(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=500)


def add_error_handlers(app: FastAPI) -> None:
    """Register the mapping on ``app``; the most specific class wins."""
    app.add_exception_handler(TableNotFoundError, _not_found)
    app.add_exception_handler(MissingExtraError, _server_side)
    app.add_exception_handler(LaketownError, _bad_request)
