"""Triad: one source of truth for legal, finance (AP) and procurement."""

__version__ = "0.1.0"
