"""The ``lake`` fixture: one workspace per catalog/storage combination, so that every table and
SQL test written against it runs on each: SQLite + local folder (the default), PostgreSQL +
local folder, and an Iceberg REST catalog + S3, both served by a real SeaweedFS."""

from __future__ import annotations

import itertools

import pytest

import laketown
from laketown.lake import ZONES

_names = itertools.count()


def _sqlite_local(request, tmp_path):
    return laketown.connect(tmp_path / "ws")


def _postgres_local(request, tmp_path):
    url = request.getfixturevalue("postgres_url")
    # a catalog name per test keeps tests apart inside the one session database
    return laketown.connect(tmp_path / "ws", catalog={"uri": url, "name": f"t{next(_names)}"})


def _rest_s3(request, tmp_path):
    sw = request.getfixturevalue("seaweedfs")
    ws = laketown.connect(
        tmp_path / "ws",
        catalog={
            "uri": sw.rest_uri,
            "warehouse": sw.warehouse,
            "properties": {"credential": f"{sw.access_key}:{sw.secret_key}", "oauth2-server-uri": sw.oauth2_token_uri},
        },
        storage={
            "s3_endpoint": sw.s3_endpoint,
            "s3_access_key_id": sw.access_key,
            "s3_secret_access_key": sw.secret_key,
            "s3_region": sw.region,
        },
    )
    _drop_all(ws)  # the REST catalog is shared by the session: start each test empty
    return ws


def _drop_all(ws):
    for zone in ZONES:
        for name in ws.lake.list_tables(zone):
            ws.lake.catalog.purge_table(name)


COMBINATIONS = {
    "sqlite-local": _sqlite_local,
    "postgres-local": _postgres_local,
    "rest-s3": _rest_s3,
}


@pytest.fixture(params=sorted(COMBINATIONS))
def lake_ws(request, tmp_path):
    ws = COMBINATIONS[request.param](request, tmp_path)
    yield ws
    ws.close()


@pytest.fixture
def lake(lake_ws):
    return lake_ws.lake
