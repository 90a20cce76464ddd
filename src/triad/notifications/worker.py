"""Sends queued mail in the background while ``triad serve`` runs.

A thread is enough for the embedded deployment; the outbox table makes it
safe to restart at any time (unsent mail stays queued). A production
deployment can run ``triad mail send`` from a scheduler instead.
"""

from __future__ import annotations

import logging
import threading

from triad.core import db
from triad.notifications.service import deliver_pending

log = logging.getLogger("triad.mail")


def _loop(stop: threading.Event, interval: float) -> None:
    while not stop.wait(interval):
        try:
            with db.transaction() as session:
                deliver_pending(session=session)
        except Exception:  # keep the worker alive; the error is logged and retried
            log.exception("mail delivery failed")


def start_mail_worker(interval: float = 10.0) -> threading.Event:
    stop = threading.Event()
    threading.Thread(target=_loop, args=(stop, interval), name="triad-mail", daemon=True).start()
    return stop
