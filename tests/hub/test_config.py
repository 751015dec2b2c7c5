"""Configuration layering and its one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.config import ConfigError, load_config


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
