"""Configuration layering and its one-line errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hub.config import ConfigError, Rate, load_config


def test_defaults_are_loopback_and_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    config = load_config(None, {"data_dir": str(tmp_path)})
    assert config.http.host == "127.0.0.1" and config.hj212.host == "127.0.0.1"
    assert config.database_url == f"sqlite:///{(tmp_path / 'auasu.sqlite3').resolve()}"


def test_file_then_environment_then_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "auasu.toml"
    path.write_text('db = "sqlite:///from-file"\n[http]\nport = 9000\nthreads = 4\n')
    assert load_config(path).http.port == 9000
    monkeypatch.setenv("AUASU_DB", "postgresql://from-env/db")
    config = load_config(path, {"http.port": 9001})
    assert config.database_url == "postgresql://from-env/db"
    assert (config.http.port, config.http.threads) == (9001, 4)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[http]\nport = 70000\n", "config http.port"),
        ("[http]\nnope = 1\n", "config http.nope"),
        ("[hj212\n", "not valid TOML"),
    ],
)
def test_bad_configuration_is_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(path)
    assert "\n" not in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "absent.toml")


def test_rate_limit_defaults_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUASU_RATE_LIMITS", raising=False)
    defaults = load_config(None).rate_limits
    assert defaults.read == Rate(per_second=20, burst=100)
    assert defaults.write == Rate(per_second=50, burst=100)
    assert defaults.login_failures == Rate(per_second=10 / 60, burst=10)
    path = tmp_path / "auasu.toml"
    path.write_text(
        '[rate_limits]\nread = "5/s burst 50"\nwrite = "off"\nlogin_failures = "30/h"\n'
        '[http]\ntrusted_proxies = ["10.0.0.0/8", "::1"]\n'
        "[limits]\nmax_body_bytes = 1048576\nstatement_timeout_s = 5\n"
    )
    config = load_config(path)
    assert config.rate_limits.read == Rate(per_second=5, burst=50)
    assert config.rate_limits.write is None
    assert config.rate_limits.login_failures == Rate(per_second=30 / 3600, burst=30)
    assert config.http.trusted_proxies == ["10.0.0.0/8", "::1"]
    assert (config.limits.max_body_bytes, config.limits.statement_timeout_s) == (1048576, 5)
    assert config.limits.max_query_string_bytes == 8192


@pytest.mark.parametrize(
    ("value", "read", "write"),
    [
        ("off", None, None),
        ("on", Rate(per_second=20, burst=100), Rate(per_second=50, burst=100)),
        ("read=1/min", Rate(per_second=1 / 60, burst=1), Rate(per_second=50, burst=100)),
        ("read = 50/s burst 200 , write=OFF", Rate(per_second=50, burst=200), None),
        ("write=2.5/s", Rate(per_second=20, burst=100), Rate(per_second=2.5, burst=3)),
    ],
)
def test_auasu_rate_limits_environment(
    monkeypatch: pytest.MonkeyPatch, value: str, read: Rate | None, write: Rate | None
) -> None:
    monkeypatch.setenv("AUASU_RATE_LIMITS", value)
    limits = load_config(None).rate_limits
    assert (limits.read, limits.write) == (read, write)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ("reads=1/s", "AUASU_RATE_LIMITS: 'reads=1/s' is not NAME=RATE"),
        ("read", "AUASU_RATE_LIMITS: 'read' is not NAME=RATE"),
        ("read=fast", "config rate_limits.read: Value error, not a rate: 'fast'"),
        ("read=1/day", "not a rate"),
        ("read=0/s", "not a rate"),
    ],
)
def test_bad_rate_limits_are_one_line(
    monkeypatch: pytest.MonkeyPatch, env: str, message: str
) -> None:
    monkeypatch.setenv("AUASU_RATE_LIMITS", env)
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        load_config(None)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[http]\ntrusted_proxies = ["proxy.local"]\n', "config http.trusted_proxies"),
        ("[limits]\nmax_body_bytes = 10\n", "config limits.max_body_bytes"),
        ("[limits]\nstatement_timeout_s = -1\n", "config limits.statement_timeout_s"),
        ('[rate_limits]\nread = "10/s burst 0"\n', "config rate_limits.read"),
    ],
)
def test_bad_security_settings(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(path)
    assert "\n" not in str(caught.value)
