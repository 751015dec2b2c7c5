"""OGC SensorThings API 1.1 (served at /v1.1)."""
