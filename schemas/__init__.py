"""Marshmallow schemas of the ar-ingest API, one module per resource."""
