"""The second core for a large vendor import (decision 0032): its bulk writes on a writer thread, its
name keys and duplicate detection in a worker process.

**Writes.** ``Writer`` runs the import's bulk statements (new vendors, child-row deletes and inserts,
vendor updates, conflicts) in order, on the session's own connection. On SQLite it does so on a thread, and
each statement carries many rows (multi-row ``INSERT ... VALUES (...), (...)``, ``UPDATE ... FROM (VALUES
...)``, ``DELETE ... IN (...)``, up to 32,766 parameters): one statement is one ``sqlite3_step``, during
which the sqlite3 module does not hold the GIL, so the database writes while the main thread goes on in
Python (comparing rows, serialising the audit event). A row-by-row ``executemany`` would not overlap: it
gives the GIL up and waits for it back at every row, which against a busy main thread costs up to a switch
interval (5 ms) per row (measured: 50,000 rows in 190 s instead of 0.2 s). The values are bound as
``executemany`` binds them, converted by the columns' own bind processors first (``ap.bulk.insert_rows``),
in the same order, so the rows stored and their ids are the sequential path's. The caller leaves the
session and its connection alone whenever the writer has work (``drain`` waits for it to be idle; ``join``
ends it); both re-raise the first error of any statement, and the statements after it are not run: the
import's savepoint then rolls everything back. On PostgreSQL (``COPY``, already the fast path) the same
calls run inline, in order.

**Worker process.** ``DedupePool`` starts one child interpreter when a large import has read its file. It
computes the file's name keys while the main thread checks the rows, then runs ``dedupe.similar_names`` on
the master's name keys as they will be after the writes, while the writes go on. Only names, keys and focus
indices go out; keys, index pairs and scores come back (pickled: the same strings and floats).
"""

from __future__ import annotations

import logging
import os
import pickle
import queue
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

from sqlalchemy import Table, bindparam, delete, update
from sqlalchemy.orm import Session

from triad.ap.bulk import _memo, bound

# A procurement import of more rows than this writes on a thread and uses the worker process (decision 0032:
# measured at 5,000 rows slower, at 10,000 even, at 20,000 faster). Fewer rows (the API, the pages, the CLI's
# usual files) run the plain sequential path and start neither.
PIPELINE_ABOVE = 15_000
_CHUNK = 900
_STOP = object()
_log = logging.getLogger(__name__)
TRACE = bool(os.environ.get("TRIAD_TRACE_VENDOR_WRITER"))  # each statement's time on stderr

_MAX_PARAMS = 32_766  # SQLite's default limit of parameters per statement (the connection may allow more)


class Writer:
    """The import's bulk writes, in the order given: on a thread (SQLite) or inline (other databases)."""

    def __init__(self, session: Session) -> None:
        session.flush()
        self.session = session
        self.conn = session.connection()
        self.dialect = self.conn.dialect
        self.threaded = self.dialect.name == "sqlite"
        self._raw = self.conn.connection.driver_connection if self.threaded else None
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._abandoned = False

    # ------------------------------------------------------------ the thread

    def start(self) -> None:
        if self.threaded:
            self._thread = threading.Thread(target=self._run, name="vendor-import-writer", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        cur = None
        while True:
            item = self._queue.get()
            try:
                if item is _STOP:
                    if cur is not None:
                        cur.close()
                    return
                # after an error (or once abandoned) nothing more is written; the caller rolls back
                if self._error is None and not self._abandoned:
                    if cur is None:
                        cur = self._raw.cursor()
                    if TRACE:
                        t0 = time.perf_counter()
                    cur.execute(*item)
                    if TRACE:
                        print(f"writer {time.perf_counter() - t0:.3f}s {item[0][:50]}", file=sys.stderr)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller by join() or drain()
                self._error = exc
            finally:
                self._queue.task_done()

    def _put(self, sql: str, params: list) -> None:
        self._queue.put((sql, params))

    def drain(self) -> None:
        """Wait until every statement queued so far has run (the thread stays, idle): until more is queued the
        caller may use the session. The first error of any statement is raised here."""
        if self._thread is not None:
            self._queue.join()
        if self._error is not None:
            raise self._error

    def join(self) -> None:
        """Wait for every statement queued, then end the thread; the first error of any of them is raised here."""
        try:
            self.drain()
        finally:
            self.close()

    def close(self) -> None:
        """End the thread and wait for it: always, in ``finally``. Statements still queued are not run (after
        ``join`` there are none; otherwise the caller is on its way out with an error and rolls back)."""
        if self._thread is not None:
            self._abandoned = True
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None

    # ------------------------------------------------------------ statements

    def _per_statement(self, width: int, fixed: int = 0) -> int:
        """Rows per multi-row statement: as many as the parameter limit allows (``fixed``: other parameters)."""
        limit = min(_MAX_PARAMS, self._raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
        return max(1, (limit - fixed) // max(1, width))

    def insert(self, table: Table, columns: list[str], rows: list[tuple]) -> None:
        """Insert ``rows`` (tuples in the order of ``columns``, which is the table's column order)."""
        if not rows:
            return
        if not self.threaded:
            from triad.ap.bulk import insert_rows

            insert_rows(self.session, table, columns, rows)
            return
        rows = list(bound(self.dialect, table, columns, rows))
        quote = self.dialect.identifier_preparer
        head = (f"INSERT INTO {quote.format_table(table)} ({', '.join(quote.quote(c) for c in columns)}) "  # noqa: S608
                "VALUES ")
        one = "(" + ", ".join("?" * len(columns)) + ")"
        per = self._per_statement(len(columns))
        for k in range(0, len(rows), per):
            chunk = rows[k:k + per]
            self._put(head + ", ".join([one] * len(chunk)), [v for row in chunk for v in row])

    def delete_vendors_rows(self, table: Table, vendor_ids: list[int]) -> None:
        """Delete the rows of these vendors from a child table."""
        if not vendor_ids:
            return
        if not self.threaded:
            for k in range(0, len(vendor_ids), _CHUNK):
                self.session.execute(delete(table).where(table.c.vendor_id.in_(vendor_ids[k:k + _CHUNK])))
            return
        quote = self.dialect.identifier_preparer
        head = f"DELETE FROM {quote.format_table(table)} WHERE {quote.quote('vendor_id')} IN ("  # noqa: S608
        per = self._per_statement(1)
        for k in range(0, len(vendor_ids), per):
            chunk = vendor_ids[k:k + per]
            self._put(head + ", ".join("?" * len(chunk)) + ")", list(chunk))

    def update_by_id(self, table: Table, columns: tuple[str, ...], items: list[dict], same: dict[str, Any]) -> None:
        """``UPDATE table SET col = item[col] ..., same ... WHERE id = item['_id']`` for every item. On SQLite one
        ``UPDATE ... FROM (VALUES ...)`` per chunk of items (SQLite 3.33 or later)."""
        if not items:
            return
        if not self.threaded:
            stmt = update(table).where(table.c.id == bindparam("_id")).values(
                {c: bindparam(c) for c in columns} | same)
            for k in range(0, len(items), 5000):
                self.session.execute(stmt, items[k:k + 5000])
            return
        cols = list(columns)
        procs = [_memo(table.c[c].type._cached_bind_processor(self.dialect)) for c in cols]
        rows = [(it["_id"], *((v if p is None else p(v)) for p, v in zip(procs, (it[c] for c in cols), strict=True)))
                for it in items]
        same_vals = []
        for c, v in same.items():
            p = table.c[c].type._cached_bind_processor(self.dialect)
            same_vals.append(v if p is None else p(v))
        quote = self.dialect.identifier_preparer
        name = quote.format_table(table)
        sets = [f"{quote.quote(c)} = j.column{k + 2}" for k, c in enumerate(cols)]
        sets += [f"{quote.quote(c)} = ?" for c in same]
        one = "(" + ", ".join("?" * (len(cols) + 1)) + ")"
        per = self._per_statement(len(cols) + 1, len(same_vals))
        for k in range(0, len(rows), per):
            chunk = rows[k:k + per]
            # parameters in the order they appear: the SET list's come before the VALUES'
            self._put(f"UPDATE {name} SET {', '.join(sets)} FROM (VALUES {', '.join([one] * len(chunk))}) AS j "  # noqa: S608
                      f"WHERE {name}.{quote.quote('id')} = j.column1", [*same_vals, *(v for row in chunk for v in row)])


class DedupePool:
    """One worker process (``python -m triad.vendors.dedupe_worker``), started when a large import has read its
    file; ``close`` in ``finally`` ends it whatever happened. It first computes the name keys of the file's legal
    names (``validation.name_key``, pure Python: the main thread checks the rows meanwhile), then waits for the
    ``similar_names`` request.

    A plain child interpreter rather than a ``multiprocessing`` pool: a ``spawn`` or ``forkserver`` child
    first runs the parent's main module again (``__mp_main__``), which re-ran an unguarded script's own
    import in the child (seen with a benchmark script), and costs the import of the whole application; no
    ``fork`` of a threaded server either. The child gets the parent's ``sys.path`` (the benchmark's ``src``).

    Both answers are pure functions of what was sent, so when the worker cannot give one (it could not start,
    e.g. ``sys.executable`` is not a Python under some servers, or it failed) the caller computes it itself:
    ``name_keys`` gives None and ``similar_names`` computes in this process, with a warning in the log."""

    def __init__(self, names: list[str]) -> None:
        self._proc: subprocess.Popen | None = None
        self._asked = False
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        fd, self._names_file = tempfile.mkstemp(prefix="triad-vendor-names-", suffix=".pickle")
        try:
            with os.fdopen(fd, "wb") as f:
                pickle.dump(names, f, protocol=pickle.HIGHEST_PROTOCOL)
            env = dict(os.environ)
            env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
            self._proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", "triad.vendors.dedupe_worker", self._names_file], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=self._stderr, env=env)
        except OSError as exc:
            _log.warning("vendor import worker did not start (%s): computing in this process", exc)
        except BaseException:
            self.close()  # the temporary files
            raise

    def _read_answer(self) -> Any:
        proc = self._proc
        if proc is None:
            raise RuntimeError("no worker")
        try:
            kind, value = pickle.load(proc.stdout)  # noqa: S301 - our own child's answer
        except (EOFError, pickle.UnpicklingError, OSError):
            code = proc.wait()
            self._stderr.seek(0)
            raise RuntimeError(f"exit {code}: {self._stderr.read().decode(errors='replace')[-2000:]}") from None
        if kind != "ok":
            raise RuntimeError(value)
        return value

    def name_keys(self) -> list[str] | None:
        """``validation.name_key`` of every name given, in order (waits for the worker); None if the worker
        could not give them (the caller computes them)."""
        try:
            return self._read_answer()
        except RuntimeError as exc:
            _log.warning("vendor import worker gave no name keys (%s): computing in this process", exc)
            self._stop()
            return None

    def similar_names(self, keys: list[str], new: set[int]) -> _Answer:
        """Send the request; the answer's ``result()`` waits for the pairs (computed here if the worker cannot
        give them). Only after ``name_keys``."""
        assert not self._asked
        self._asked = True
        answer = _Answer(self, keys, new)
        if self._proc is not None:
            try:
                self._proc.stdin.write(pickle.dumps((keys, new), protocol=pickle.HIGHEST_PROTOCOL))
                self._proc.stdin.close()
            except OSError as exc:
                _log.warning("vendor import worker took no request (%s): computing in this process", exc)
                self._stop()
        return answer

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()  # nothing more is wanted from it (an import that ended early, or a failed worker)
        proc.wait()
        for f in (proc.stdin, proc.stdout):
            if not f.closed:
                f.close()

    def close(self) -> None:
        try:
            self._stop()
        finally:
            self._stderr.close()
            if os.path.exists(self._names_file):
                os.unlink(self._names_file)


class _Answer:
    def __init__(self, pool: DedupePool, keys: list[str], new: set[int]) -> None:
        self._pool, self._keys, self._new = pool, keys, new

    def result(self) -> dict[tuple[int, int], float]:
        if self._pool._proc is not None:
            try:
                return self._pool._read_answer()
            except RuntimeError as exc:
                _log.warning("vendor import worker gave no duplicate pairs (%s): computing in this process", exc)
                self._pool._stop()
        from triad.vendors import dedupe

        return dedupe.similar_names(self._keys, new=self._new)
