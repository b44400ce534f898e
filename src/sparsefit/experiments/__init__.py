"""Reproducible studies behind the demo and the report. Each returns plain data."""
