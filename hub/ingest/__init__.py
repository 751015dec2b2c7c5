"""Ingest: channels that receive raw bytes, and the pipeline that makes them durable."""
