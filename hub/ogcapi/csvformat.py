"""CSV items of the hub's collections: pygeoapi's CSV writer, fixed for what it gets wrong.

pygeoapi 0.24 writes a nested property (a station's ``observed_properties``, a list of objects)
as Python's ``repr`` -- single quotes, ``None``, nothing a CSV reader can parse back -- and
leaves the geometry out unless its formatter is configured with ``geom``. This formatter takes
pygeoapi's place under the same name (``CSV``, ``f=csv``): nested values are written as JSON,
and point features get ``x`` and ``y`` columns first (in the response's CRS, like the GeoJSON
answer), other geometries a ``wkt`` column.
"""

from __future__ import annotations

import json
from typing import Any

from pygeoapi.formatter.csv_ import CSVFormatter

NAME = "hub.ogcapi.csvformat.HubCSVFormatter"


class HubCSVFormatter(CSVFormatter):  # type: ignore[misc]
    """pygeoapi's CSV formatter with JSON for nested values and the geometry as columns."""

    def __init__(self, formatter_def: dict[str, Any]) -> None:
        super().__init__({**formatter_def, "geom": True})
        self.name = "CSV"  # replaces pygeoapi's own in a collection's formatters

    def write(
        self, options: dict[str, Any] | None = None, data: dict[str, Any] | None = None
    ) -> Any:
        if data is not None and "features" in data:
            data = {**data, "features": [_flat(feature) for feature in data["features"]]}
        return super().write(options or {}, data)


def _flat(feature: dict[str, Any]) -> dict[str, Any]:
    properties = {
        name: json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value
        for name, value in (feature.get("properties") or {}).items()
    }
    return {**feature, "properties": properties}


def formatter_config() -> dict[str, Any]:
    """The entry of a collection's ``formatters`` that puts this formatter in place."""
    return {"name": NAME}
