"""Demo data shipped inside the package, so the hub runs without the shared fixtures checkout.

``PILOT_REGISTRY`` is the Astana pilot station registry: 8 Lihe HJ 212 loggers (air, river water,
effluent) and 10 Kazhydromet posts, in the format :func:`hub.model.registry.load_registry` reads.
Its device passwords are pilot test values, not real secrets.
"""

from __future__ import annotations

from pathlib import Path

PILOT_REGISTRY: Path = Path(__file__).resolve().with_name("astana-pilot.json")

__all__ = ["PILOT_REGISTRY"]
