"""Every guideline rule; importing this package registers them all."""

from triad.guidelines.rules import codes, expenses, history, rates, text, time, timing  # noqa: F401
