from __future__ import annotations

import pytest

from laketown.config import load_settings
from laketown.errors import ConfigError


def test_precedence_defaults_file_env_kwargs(tmp_path):
    cfg = tmp_path / "laketown.toml"
    cfg.write_text("[sql]\nmax_rows = 5\ntimeout_s = 7\n[server]\nport = 9001\n")
    env = {"LAKETOWN__SQL__TIMEOUT_S": "11", "LAKETOWN__SERVER__PORT": "9002"}
    s = load_settings(config_file=cfg, environ=env, server__port=9003)
    assert s.sql.max_rows == 5  # file over default
    assert s.sql.timeout_s == 11  # env over file
    assert s.server.port == 9003  # kwargs over env
    assert s.server.host == "127.0.0.1"  # default


def test_workspace_toml_is_found_from_env(tmp_path):
    (tmp_path / "laketown.toml").write_text("[sql]\nmax_rows = 3\n")
    s = load_settings(environ={"LAKETOWN__WORKSPACE": str(tmp_path)})
    assert s.sql.max_rows == 3
    assert s.workspace == tmp_path


def test_unknown_key_in_file_names_key_and_allowed(tmp_path):
    cfg = tmp_path / "laketown.toml"
    cfg.write_text("[sql]\nmax_row = 5\n")
    with pytest.raises(ConfigError) as err:
        load_settings(config_file=cfg, environ={})
    msg = str(err.value)
    assert "sql.max_row" in msg and "max_rows" in msg and "timeout_s" in msg


def test_unknown_section_from_env_is_an_error():
    with pytest.raises(ConfigError, match="unknown setting 'sqll'"):
        load_settings(environ={"LAKETOWN__SQLL__MAX_ROWS": "3"})


def test_bad_value_names_setting_and_value():
    with pytest.raises(ConfigError, match=r"server.port.*70000"):
        load_settings(environ={}, server__port=70000)


def test_catalog_backend_follows_uri_scheme():
    assert load_settings(environ={}).catalog.backend() == "sql"
    assert load_settings(environ={}, catalog={"uri": "postgresql://u@h/db"}).catalog.backend() == "postgres"
    assert load_settings(environ={}, catalog={"uri": "http://127.0.0.1:1/"}).catalog.backend() == "rest"


def test_secrets_are_not_printed():
    s = load_settings(environ={"LAKETOWN__STORAGE__S3_SECRET_ACCESS_KEY": "hunter2"})
    assert "hunter2" not in repr(s) and "hunter2" not in str(s.model_dump())
    assert s.storage.s3_secret_access_key.get_secret_value() == "hunter2"


def test_iot_section_takes_the_broker_from_file_and_env(tmp_path):
    assert load_settings(environ={}).iot.broker == "amqtt"
    cfg = tmp_path / "laketown.toml"
    cfg.write_text('[iot]\nbroker = "mosquitto"\n')
    assert load_settings(config_file=cfg, environ={}).iot.broker == "mosquitto"
    assert load_settings(environ={"LAKETOWN__IOT__BROKER": "mosquitto"}).iot.broker == "mosquitto"
    with pytest.raises(ConfigError, match=r"iot.broker.*rabbit"):
        load_settings(environ={"LAKETOWN__IOT__BROKER": "rabbit"})
    cfg.write_text('[iot]\nbrokr = "amqtt"\n')
    with pytest.raises(ConfigError, match=r"unknown setting 'iot.brokr'; allowed here: broker"):
        load_settings(config_file=cfg, environ={})


def test_c360_section_reaches_the_app_and_hides_the_recs_key(tmp_path):
    import laketown
    from laketown.apps.customer360.names import shop_db_url
    from laketown.apps.customer360.service import Customer360

    env = {"LAKETOWN__C360__RECS_URL": "http://127.0.0.1:9", "LAKETOWN__C360__RECS_KEY": "k-secret"}
    settings = load_settings(workspace=tmp_path / "ws", environ=env)
    assert settings.c360.recs_url == "http://127.0.0.1:9"
    assert "k-secret" not in repr(settings) and "k-secret" not in str(settings.model_dump())
    ws = laketown.connect(settings)
    try:
        assert shop_db_url(ws).startswith("sqlite:///") and shop_db_url(ws).endswith("shop.db")
        svc = Customer360(ws)
        assert (svc.recs_url, svc.recs_key) == ("http://127.0.0.1:9", "k-secret")
    finally:
        ws.close()
    pg = load_settings(workspace=tmp_path / "ws2", environ={"LAKETOWN__C360__SHOP_DB": "postgresql+psycopg://u@h/db"})
    ws = laketown.connect(pg)
    try:
        assert shop_db_url(ws) == "postgresql+psycopg://u@h/db"
    finally:
        ws.close()
    with pytest.raises(ConfigError, match=r"unknown setting 'c360.shopdb'"):
        load_settings(environ={"LAKETOWN__C360__SHOPDB": "x"})
