"""MQTT settings, the hub's broker secret, and the service-root advertisement."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from hub.config import ConfigError, HubConfig, load_config
from hub.metrics import HubMetrics
from hub.sta.mqtt import MQTT_CREATE_REQ, MQTT_RECEIVE_REQ, MqttSettings, server_settings
from hub.sta.mqtt.settings import load_or_create_secret
from hub.sta.mqtt.wiring import mqtt_server_settings
from hub.store import Store
from hub.web import create_app


def test_server_settings_advertise_endpoints() -> None:
    assert server_settings(MqttSettings()) == {}
    enabled = MqttSettings(enabled=True, host="mqtt.example.org", port=1884)
    assert server_settings(enabled) == {
        MQTT_CREATE_REQ: {"endpoints": ["mqtt://mqtt.example.org:1884"]},
        MQTT_RECEIVE_REQ: {"endpoints": ["mqtt://mqtt.example.org:1884"]},
    }
    public = MqttSettings(enabled=True, endpoints=["mqtts://hub.example.org:8883"])
    assert server_settings(public)[MQTT_CREATE_REQ] == {
        "endpoints": ["mqtts://hub.example.org:8883"]
    }
    assert MqttSettings(host="::1").advertised_endpoints() == ["mqtt://[::1]:1883"]


@pytest.mark.parametrize(
    "values",
    [
        {"endpoints": ["http://hub.example.org"]},
        {"endpoints": ["mqtt://has space:1883"]},
        {"client_id": "with space"},
        {"username": ""},
        {"service_root_url": "hub.example.org/v1.1"},
        {"port": 0},
        {"unknown": 1},
    ],
)
def test_bad_settings_are_refused(values: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        MqttSettings.model_validate(values)


def test_service_root_url_is_normalised() -> None:
    settings = MqttSettings(service_root_url="https://hub.example.org/v1.1/")
    assert settings.service_root_url == "https://hub.example.org/v1.1"


def test_hub_secret_is_generated_once_and_private(tmp_path: Path) -> None:
    path = tmp_path / "mqtt" / "hub.secret"
    settings = MqttSettings(password_path=path)
    first = settings.hub_password()
    assert len(first) >= 43
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_secret(path) == first == settings.hub_password()
    given = MqttSettings.model_validate({"password": "given-secret-0123456789"})
    assert given.hub_password() == "given-secret-0123456789"
    with pytest.raises(ValueError, match="password_path"):
        MqttSettings().hub_password()


def test_the_mqtt_table_and_its_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AUASU_MQTT_URL", raising=False)
    assert load_config(None, {}).mqtt == MqttSettings()
    toml = tmp_path / "auasu.toml"
    toml.write_text(
        '[mqtt]\nenabled = true\nhost = "broker.internal"\nport = 1884\n'
        'password_path = "/etc/auasu/hub.secret"\nendpoints = ["mqtts://hub.example.org:8883"]\n'
    )
    config = load_config(toml, {})
    assert config.mqtt.enabled and (config.mqtt.host, config.mqtt.port) == ("broker.internal", 1884)
    assert config.mqtt.password_path == Path("/etc/auasu/hub.secret")
    monkeypatch.setenv("AUASU_MQTT_URL", "mqtt://127.0.0.2:1999")
    config = load_config(toml, {})
    assert (config.mqtt.host, config.mqtt.port) == ("127.0.0.2", 1999)
    assert config.mqtt.endpoints == ["mqtts://hub.example.org:8883"]  # the rest stays
    monkeypatch.setenv("AUASU_MQTT_URL", "mqtt://[::1]")
    assert (load_config(None, {}).mqtt.host, load_config(None, {}).mqtt.port) == ("::1", 1883)
    monkeypatch.setenv("AUASU_MQTT_URL", "off")
    assert not load_config(toml, {}).mqtt.enabled
    for bad in ("mqtt://user:pw@host", "http://host", "mqtt://host:99999", "mqtt://a b"):
        monkeypatch.setenv("AUASU_MQTT_URL", bad)
        with pytest.raises(ConfigError) as caught:
            load_config(None, {})
        assert "\n" not in str(caught.value) and "pw" not in str(caught.value)
    monkeypatch.delenv("AUASU_MQTT_URL")
    toml.write_text("[mqtt]\nenabled = true\nclient_id = 'has space'\n")
    with pytest.raises(ConfigError, match=r"config mqtt\.client_id"):
        load_config(toml, {})


def test_the_app_carries_what_the_service_root_advertises(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'hub.sqlite3'}")
    try:
        off = create_app(store, HubMetrics(), lambda: True, config=HubConfig())
        with off.app_context():
            assert mqtt_server_settings() == {}
        config = HubConfig(mqtt=MqttSettings(enabled=True, host="mqtt.example.org"))
        on = create_app(store, HubMetrics(), lambda: True, config=config)
        with on.app_context():
            assert mqtt_server_settings() == {
                MQTT_CREATE_REQ: {"endpoints": ["mqtt://mqtt.example.org:1883"]},
                MQTT_RECEIVE_REQ: {"endpoints": ["mqtt://mqtt.example.org:1883"]},
            }
        assert mqtt_server_settings() == {}  # outside an app: nothing to advertise
    finally:
        store.close()
