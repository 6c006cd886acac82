"""open_backend: settings -> the configured streams backend."""

from __future__ import annotations

import sys

import pytest

from laketown.config import load_settings
from laketown.errors import ConfigError, MissingExtraError
from laketown.streams import open_backend
from laketown.streams.backends.embedded import EmbeddedStreams


def test_embedded_lives_in_the_workspace(tmp_path):
    settings = load_settings(environ={}, workspace=tmp_path, streams={"fsync_every": 10})
    backend = open_backend(settings)
    assert isinstance(backend, EmbeddedStreams)
    assert backend.root == tmp_path / "streams" and backend.fsync_every == 10
    assert {"groups", "retention", "timestamps", "headers"} <= backend.capabilities


def test_kafka_without_bootstrap_servers_says_what_to_set(tmp_path):
    settings = load_settings(environ={}, workspace=tmp_path, streams={"backend": "kafka"})
    with pytest.raises(ConfigError, match="bootstrap_servers"):
        open_backend(settings)


def test_kafka_without_confluent_kafka_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "confluent_kafka", None)  # import of it now fails
    monkeypatch.delitem(sys.modules, "laketown.streams.backends.kafka", raising=False)
    settings = load_settings(
        environ={}, workspace=tmp_path, streams={"backend": "kafka", "bootstrap_servers": "127.0.0.1:1"}
    )
    with pytest.raises(MissingExtraError, match=r"laketown\[kafka\]"):
        open_backend(settings)
