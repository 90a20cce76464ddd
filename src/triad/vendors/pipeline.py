"""The second core for a large vendor import (decision 0032): its bulk writes on a writer thread, its
name keys and duplicate detection in a worker process.

**Writes.** ``Writer`` runs the import's bulk statements (new vendors, child-row deletes and inserts,
vendor updates, conflicts) in order, on the session's own connection. On SQLite it does so on a thread, and
each statement carries many rows (multi-row ``INSERT ... VALUES (...), (...)``, or ``INSERT ... SELECT ... FROM
(VALUES ...)`` with a column of one value bound once (decision 0038), ``UPDATE ... FROM (VALUES ...)``,
``DELETE ... IN (...)``, up to 32,766 parameters): one statement is one ``sqlite3_step``, during
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
import select
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from itertools import chain
from typing import Any

from sqlalchemy import Table, bindparam, delete, update
from sqlalchemy.orm import Session

from triad.ap.bulk import _memo, bound_columns, insert_rows

# A procurement import of more rows than this writes on a thread and uses the worker process (decision 0032:
# measured at 5,000 rows slower, at 10,000 even, at 20,000 faster). Fewer rows (the API, the pages, the CLI's
# usual files) run the plain sequential path and start neither.
PIPELINE_ABOVE = 15_000
_CHUNK = 900
_STOP = object()
_log = logging.getLogger(__name__)
TRACE = bool(os.environ.get("TRIAD_TRACE_VENDOR_WRITER"))  # each statement's time on stderr

_MAX_PARAMS = 32_766  # SQLite's default limit of parameters per statement (the connection may allow more)

# While a writer thread runs, the interpreter's switch interval is 0.5 ms instead of 5 ms (decision 0037): the
# writer needs the GIL back after each statement's step and to bind the next one, and the main thread, busy in
# Python, gives it up only at the interval. Process-wide, so counted: the first writer to start sets it, the
# last to end restores what it was.
SWITCH_INTERVAL = 0.0005
_switching = {"writers": 0, "before": None}
_switching_lock = threading.Lock()


def _writer_started() -> None:
    with _switching_lock:
        if _switching["writers"] == 0:
            _switching["before"] = sys.getswitchinterval()
            sys.setswitchinterval(min(SWITCH_INTERVAL, _switching["before"]))
        _switching["writers"] += 1


def _writer_ended() -> None:
    with _switching_lock:
        _switching["writers"] -= 1
        if _switching["writers"] == 0:
            sys.setswitchinterval(_switching["before"])


# values a column may be bound once for (``Writer.insert``): equal values of these types are the same value to
# SQLite (a float or a Decimal may be equal to one of another type or text, and is bound row by row)
_ONE_VALUE_TYPES = frozenset({str, int, bool, bytes, type(None)})


def _one_value(col: Sequence[Any]) -> bool:
    """Whether every value of the column is the same value: equal, and of one type that binds the same way."""
    first = col[0]  # (cheap tests first: most columns that vary differ at one end or in the middle)
    return type(first) in _ONE_VALUE_TYPES and first == col[-1] and first == col[len(col) // 2] and \
        col.count(first) == len(col) and len(set(map(type, col))) == 1


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
            _writer_started()
            try:
                self._thread.start()
            except BaseException:
                self._thread = None
                _writer_ended()
                raise

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
            try:
                self._thread.join()
            finally:
                self._thread = None
                _writer_ended()

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
            insert_rows(self.session, table, columns, rows)
            return
        self.insert_columns(table, columns, list(zip(*rows, strict=True)))

    def insert_columns(self, table: Table, columns: list[str], cols: list) -> None:
        """``insert`` of rows given column-wise: ``cols`` holds one sequence of values per name in ``columns`` (the
        table's column order), all of one length; row i is every column's value i."""
        n = len(cols[0]) if cols else 0
        if not n:
            return
        if not self.threaded:
            insert_rows(self.session, table, columns, list(zip(*cols, strict=True)))
            return
        cols = bound_columns(self.dialect, table, columns, cols)
        quote = self.dialect.identifier_preparer
        into = f"INSERT INTO {quote.format_table(table)} ({', '.join(quote.quote(c) for c in columns)}) "  # noqa: S608
        same = [k for k, col in enumerate(cols) if _one_value(col)] if n > 1 else []
        if len(same) == len(columns):  # every column one value (or a single row): plain VALUES rows
            same = []
        # a column with one value in every row is bound once per statement, not once per row (decision 0038):
        # INSERT ... SELECT column1, ?, column2 ... FROM (VALUES (?, ?), ...). The table's column affinity
        # applies to what is inserted either way, so the rows stored are the same; binding and compiling the
        # statement get cheaper (a new vendor row of the benchmark's file: 3 of its 13 values vary). Without
        # such a column: INSERT ... VALUES (...), (...)
        varying = [k for k in range(len(columns)) if k not in same]
        if same:
            where = {k: i for i, k in enumerate(varying, start=1)}
            select_list = ", ".join("?" if k in same else f"column{where[k]}" for k in range(len(columns)))
            head, tail = f"{into}SELECT {select_list} FROM (VALUES ", ")"  # noqa: S608 - quoted names, bound values
        else:
            head, tail = into + "VALUES ", ""
        fixed = [cols[k][0] for k in same]
        vary = [cols[k] for k in varying]
        one = "(" + ", ".join("?" * len(varying)) + ")"
        per = self._per_statement(len(varying), len(fixed))
        for k in range(0, n, per):
            m = min(per, n - k)
            params = fixed + list(chain.from_iterable(zip(*(col[k:k + m] for col in vary), strict=True)))
            self._put(head + ", ".join([one] * m) + tail, params)  # identifiers quoted by the dialect, values bound

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
    file; ``close`` in ``finally`` ends it whatever happened. It computes the name keys of the file's legal names
    (``validation.name_key``, pure Python) in file order while the main thread checks the rows; once the rows
    are matched by tax ID, ``name_keys`` tells it which names are still wanted and computes them from the other
    end itself until the two meet (decision 0036). Then it waits for the ``similar_names`` request.

    A plain child interpreter rather than a ``multiprocessing`` pool: a ``spawn`` or ``forkserver`` child
    first runs the parent's main module again (``__mp_main__``), which re-ran an unguarded script's own
    import in the child (seen with a benchmark script), and costs the import of the whole application; no
    ``fork`` of a threaded server either. The child gets the parent's ``sys.path`` (the benchmark's ``src``).

    Both answers are pure functions of what was sent, so when the worker cannot give one (it could not start,
    e.g. ``sys.executable`` is not a Python under some servers, or it failed) the caller computes it itself,
    with a warning in the log. The pipes are read and written without blocking on either side (``_send``
    reads while it writes), so neither process can wait on the other's full pipe."""

    def __init__(self, names: list[str]) -> None:
        self._names = names
        self._proc: subprocess.Popen | None = None
        self._stopped = False  # the worker was told to stop computing name keys
        self._need: list[int] | None = None  # the positions whose keys are wanted, once told (``ask``)
        self._waiting: list[_Answer] = []  # requests sent, in order, whose answers are not read yet
        self._ended = False  # the worker's "end" of the name keys was read
        self._buf = bytearray()
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
            os.set_blocking(self._proc.stdin.fileno(), False)
        except OSError as exc:
            _log.warning("vendor import worker did not start (%s): computing in this process", exc)
            self._stop()
        except BaseException:
            self.close()  # the temporary files
            raise

    # ------------------------------------------------------------ the pipes

    def _failed(self, what: str) -> RuntimeError:
        proc = self._proc
        code = proc.wait() if proc is not None else None
        self._stderr.seek(0)
        return RuntimeError(f"{what}; exit {code}: {self._stderr.read().decode(errors='replace')[-2000:]}")

    def _fill(self) -> bool:
        """Read what the worker has written (waiting for some); False at the end of its output."""
        data = os.read(self._proc.stdout.fileno(), 1 << 20)
        if not data:
            return False
        self._buf += data
        return True

    def _frame(self) -> Any:
        """The next complete frame already read, or None."""
        buf = self._buf
        if len(buf) < 8:
            return None
        n = struct.unpack_from("<Q", buf)[0]
        if len(buf) < 8 + n:
            return None
        try:
            obj = pickle.loads(bytes(buf[8:8 + n]))  # noqa: S301 - our own child's answer
        except Exception as exc:  # noqa: BLE001 - a garbled frame: the worker is given up on, like a dead one
            raise RuntimeError(f"unreadable frame from the worker ({exc!r})") from None
        del buf[:8 + n]
        return obj

    def _next(self) -> Any:
        """The next frame, waiting for it."""
        while (obj := self._frame()) is None:
            if not self._fill():
                raise self._failed("the worker's output ended")
        return obj

    def _send(self, obj: Any) -> None:
        """Write one frame to the worker, reading its output meanwhile (it may be waiting for us to)."""
        payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        data = memoryview(struct.pack("<Q", len(payload)) + payload)
        out, inp = self._proc.stdin.fileno(), self._proc.stdout.fileno()
        while data:
            readable, writable, _ = select.select([inp], [out], [])
            if readable and not self._fill():
                raise self._failed("the worker's output ended")
            if writable:
                try:
                    data = data[os.write(out, data[:1 << 16]):]
                except BlockingIOError:
                    continue
                except OSError as exc:  # the worker is gone
                    raise self._failed(f"the worker took no more input ({exc})") from None

    # ------------------------------------------------------------ name keys

    def name_keys(self, wanted: list[int]) -> dict[int, str]:
        """``validation.name_key`` of the names at these positions: the worker's, from the start of the list, and
        this process's, from the end, until they meet (the worker's keys always cover a prefix of the wanted
        positions, so the first one found computed tells that all before it are). May hold more keys than
        wanted."""
        from triad.vendors.validation import name_key

        need = self.ask(wanted)
        got: dict[int, str] = {}
        names = self._names
        top = len(need) - 1
        n = 0
        while top >= 0:
            if self._proc is not None and n % 64 == 0:
                self._collect(got)
            n += 1
            i = need[top]
            if i in got:
                break
            got[i] = name_key(names[i])
            top -= 1
        self._stop_keys()
        for i in need[:top + 1]:  # the worker's, all received (checked, not assumed)
            if i not in got:
                got[i] = name_key(names[i])
        return got

    def ask(self, wanted: list[int]) -> list[int]:
        """Tell the worker which names' keys are wanted (once; ``name_keys`` asks itself if this was not called),
        so it skips the others while the caller does something else. Returns the wanted positions, sorted."""
        if self._need is None:
            self._need = sorted(set(wanted))
            if self._proc is not None:
                try:
                    bitmap = bytearray((len(self._names) + 7) // 8)
                    for i in self._need:
                        bitmap[i >> 3] |= 1 << (i & 7)
                    self._send(("need", bytes(bitmap)))
                except RuntimeError as exc:
                    self._gone("name keys", exc)
        elif sorted(set(wanted)) != self._need:
            raise ValueError("the name keys wanted changed after the worker was told")
        return self._need

    def _stop_keys(self) -> None:
        if self._proc is not None and not self._stopped:
            self._stopped = True
            try:
                self._send(("stop",))
            except RuntimeError as exc:
                self._gone("name keys", exc)

    def _collect(self, got: dict[int, str]) -> None:
        """Keys the worker has sent so far (without waiting for more)."""
        try:
            while select.select([self._proc.stdout.fileno()], [], [], 0)[0]:
                if not self._fill():
                    raise self._failed("the worker's output ended")
                while (frame := self._frame()) is not None:
                    self._keys_frame(frame, got)
        except RuntimeError as exc:
            self._gone("name keys", exc)

    def _keys_frame(self, frame: tuple, got: dict[int, str] | None) -> None:
        if frame[0] == "keys":
            if got is not None:
                got.update(zip(frame[1], frame[2], strict=True))
        elif frame[0] == "end":
            self._ended = True
        else:
            raise RuntimeError(frame[1] if frame[0] == "error" else f"unexpected {frame[0]!r}")

    def _gone(self, what: str, exc: BaseException) -> None:
        _log.warning("vendor import worker gave no %s (%s): computing in this process", what, exc)
        self._stop()

    # ------------------------------------------------------------ duplicate detection

    def similar_names(self, keys: list[str], new: set[int], replaces: bool = False) -> _Answer:
        """Send a request; the answer's ``result()`` waits for the pairs (computed here if the worker cannot give
        them). Requests are answered in order; one that ``replaces`` the previous stops it if the worker is still
        at it (that answer must then not be asked for: it may be "cancelled"). The import sends at most two
        requests, so "the previous" is always the one being answered or queued."""
        answer = _Answer(self, keys, new)
        self._stop_keys()
        if self._proc is not None:
            try:
                while not self._ended:  # the rest of the name keys first (sent before the worker saw the stop)
                    self._keys_frame(self._next(), None)
                self._send(("pairs", keys, new, replaces))
                self._waiting.append(answer)
            except (RuntimeError, OSError) as exc:
                self._gone("duplicate pairs", exc)
        return answer

    def _answer_of(self, answer: _Answer) -> tuple:
        """The worker's answer to this request: the answers before it are read first (they come in order)."""
        while answer in self._waiting:
            frame = self._next()
            self._waiting.pop(0)._frame = frame
        return answer._frame

    def _stop(self) -> None:
        self._waiting = []  # no answer will come: each is computed here if asked for
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
        self._frame: tuple | None = None

    def result(self) -> dict[tuple[int, int], float]:
        pool = self._pool
        if self._frame is not None or self in pool._waiting:
            try:
                frame = self._frame if self._frame is not None else pool._answer_of(self)
                if not (isinstance(frame, tuple) and len(frame) == 2):
                    raise RuntimeError(f"unexpected answer {str(frame)[:100]}")
                kind, value = frame
                if kind == "ok":
                    return value
                if kind != "cancelled":  # (a replaced request's answer is not meant to be asked for)
                    raise RuntimeError(value)
            except RuntimeError as exc:
                pool._gone("duplicate pairs", exc)
        from triad.vendors import dedupe

        return dedupe.similar_names(self._keys, new=self._new)
