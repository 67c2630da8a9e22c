"""API routes, one module per topic; each exposes ``router``."""
