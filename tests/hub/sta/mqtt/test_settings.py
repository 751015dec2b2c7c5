"""MQTT settings, the hub's broker secret, and the service-root advertisement."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from hub.sta.mqtt import MQTT_CREATE_REQ, MQTT_RECEIVE_REQ, MqttSettings, server_settings
from hub.sta.mqtt.settings import load_or_create_secret


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
