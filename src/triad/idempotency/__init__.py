"""Idempotency-Key support for POST routes: ``dependencies=[require(...), idempotent()]``
with ``from triad.idempotency.api import idempotent``. See docs.md in this folder."""
