"""A pygeoapi server beside the hub, for benchmarks that compare the hub with pygeoapi's own
providers (bench/oapi.py).

pygeoapi runs as pygeoapi deploys it: its own ``pygeoapi.flask_app`` (one configuration per
process, read from ``PYGEOAPI_CONFIG`` at import, with the OpenAPI document generated first into
``PYGEOAPI_OPENAPI``) under waitress on a free loopback port, in a process of its own so that
nothing of the hub's embedding (hub/ogcapi/embed.py) changes what is measured.

pygeoapi's SQL provider (pygeoapi.provider.sql) needs geoalchemy2 and psycopg2, which the hub
does not: when the venv lacks them they are pip-installed (``--target``) into a directory that
only the pygeoapi process has on its PYTHONPATH, so the hub's venv stays as pyproject.toml
makes it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sta_query import free_port

# What pygeoapi's SQL provider imports that the hub does not need: module -> requirement.
PYGEOAPI_DEPS = {"geoalchemy2": "geoalchemy2==0.20.0", "psycopg2": "psycopg2-binary==2.9.13"}
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"

# Run in the pygeoapi process's environment: the OpenAPI document flask_app needs at import.
GENERATE_OPENAPI = (
    "import sys; from pathlib import Path; "
    "from pygeoapi.openapi import generate_openapi_document; "
    "Path(sys.argv[2]).write_text(generate_openapi_document(Path(sys.argv[1]), 'yaml'), "
    "encoding='utf-8')"
)


class PygeoapiUnavailable(RuntimeError):
    """pygeoapi could not be started (its dependencies, its OpenAPI document, its process)."""


def pygeoapi_path(data_dir: Path) -> str:
    """The PYTHONPATH entry that gives the pygeoapi process :data:`PYGEOAPI_DEPS`, installed
    under ``data_dir`` when the venv lacks them."""
    target = data_dir / "pygeoapi-deps"
    missing = [
        requirement
        for module, requirement in PYGEOAPI_DEPS.items()
        if importlib.util.find_spec(module) is None and not (target / module).is_dir()
    ]
    if missing:
        print(f"bench: installing {', '.join(missing)} into {target} for pygeoapi", file=sys.stderr)
        installed = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "--no-deps", "--target", str(target), *missing],
            timeout=600, capture_output=True, text=True,
        )  # fmt: skip
        if installed.returncode != 0:
            raise PygeoapiUnavailable(f"pip could not install {missing}: {installed.stderr[-800:]}")
    return str(target)


def postgresql_provider(
    pg_url: str, table: str, *, time_field: str | None, count: bool = True
) -> dict[str, Any]:
    """pygeoapi's own PostgreSQL provider over ``table`` (id ``id``, geometry ``geom``), as its
    documentation configures it: connection parameters, so it uses its driver, psycopg2 (through
    psycopg 3 its datetime filter fails: a timestamp compared with a VARCHAR parameter).
    ``count``: whether it counts numberMatched on every request (its default)."""
    url = make_url(pg_url)
    data: dict[str, Any] = {
        "host": url.host,
        "port": url.port or 5432,
        "dbname": url.database,
        "user": url.username,
    }
    if url.password:
        data["password"] = url.password
    provider: dict[str, Any] = {
        "type": "feature",
        "name": "PostgreSQL",
        "data": data,
        "table": table,
        "id_field": "id",
        "geom_field": "geom",
        "count": count,
    }
    if time_field is not None:
        provider["time_field"] = time_field
    return provider


def collection(title: str, bbox: list[float], providers: list[dict[str, Any]]) -> dict[str, Any]:
    """One ``resources`` entry: a collection with a spatial extent and no temporal one (pygeoapi
    would refuse a ``datetime`` outside a configured temporal extent)."""
    return {
        "type": "collection",
        "title": title,
        "description": f"{title} (bench data)",
        "keywords": ["bench"],
        "extents": {"spatial": {"bbox": bbox, "crs": CRS84}},
        "providers": providers,
    }


def config(port: int, resources: dict[str, Any]) -> dict[str, Any]:
    """A minimal pygeoapi configuration serving ``resources`` at ``http://127.0.0.1:<port>``."""
    licence = "https://creativecommons.org/licenses/by/4.0/"
    return {
        "server": {
            "bind": {"host": "127.0.0.1", "port": port},
            "url": f"http://127.0.0.1:{port}",
            "mimetype": "application/json; charset=UTF-8",
            "encoding": "utf-8",
            "languages": ["en-US"],
            "pretty_print": False,
            "admin": False,
            "limits": {"default_items": 10, "max_items": 10000},
            "map": {"url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png", "attribution": ""},
        },
        "logging": {"level": "ERROR"},
        "metadata": {
            "identification": {
                "title": "pygeoapi over the AuaSu bench data",
                "description": "pygeoapi's own providers, for the hub's benchmarks",
                "keywords": ["bench"],
                "keywords_type": "theme",
                "terms_of_service": licence,
                "url": "https://example.org",
            },
            "license": {"name": "CC-BY 4.0", "url": licence},
            "provider": {"name": "AuaSu bench", "url": "https://example.org"},
            "contact": {"name": "AuaSu bench"},
        },
        "resources": resources,
    }


def start_pygeoapi(
    workdir: Path, resources: dict[str, Any], extra_path: str, threads: int
) -> tuple[subprocess.Popen[bytes], int]:
    """pygeoapi's flask_app serving ``resources`` under waitress (``threads`` threads) on a free
    loopback port, once it answers ``/conformance``; its log is ``workdir/pygeoapi.log``."""
    port = free_port()
    config_file, openapi = workdir / "pygeoapi.config.yml", workdir / "pygeoapi.openapi.yml"
    config_file.write_text(json.dumps(config(port, resources)))  # JSON is YAML
    env = {
        **os.environ,
        "PYGEOAPI_CONFIG": str(config_file),
        "PYGEOAPI_OPENAPI": str(openapi),
        "PYTHONPATH": extra_path,
    }
    generated = subprocess.run(
        [sys.executable, "-c", GENERATE_OPENAPI, str(config_file), str(openapi)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if generated.returncode != 0:
        raise PygeoapiUnavailable(f"its OpenAPI generation failed: {generated.stderr[-1500:]}")
    command = [sys.executable, "-m", "waitress", f"--listen=127.0.0.1:{port}",
               f"--threads={threads}", "pygeoapi.flask_app:APP"]  # fmt: skip
    with open(workdir / "pygeoapi.log", "wb") as log:
        server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            tail = (workdir / "pygeoapi.log").read_text(errors="replace")[-2000:]
            raise PygeoapiUnavailable(f"it exited with {server.returncode}: {tail}")
        try:
            url = f"http://127.0.0.1:{port}/conformance"
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status == 200:
                    return server, port
        except OSError:
            time.sleep(0.2)
    server.terminate()
    server.wait(60)
    raise PygeoapiUnavailable("it did not answer within 120 s")
