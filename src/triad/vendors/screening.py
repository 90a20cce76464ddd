"""Sanctions screening: load a list (the public OFAC SDN CSV layout, or a simple CSV of names), screen
vendor names and aliases against every current list with normalised names (cleanco) and fuzzy matching
(rapidfuzz), keep each match as a hit that blocks activation until a reviewer clears it with a reason,
and re-screen active vendors whenever a new list is loaded.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from decimal import Decimal

from rapidfuzz import fuzz, process
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from triad.audit.service import Actor, record, record_many
from triad.auth.models import User
from triad.core.db import utcnow
from triad.core.errors import Conflict, PermissionDenied, ValidationFailed
from triad.core.permissions import Perm, has
from triad.vendors.models import (
    SanctionsEntry,
    SanctionsList,
    ScreeningHit,
    ScreeningStatus,
    Vendor,
    VendorStatus,
)
from triad.vendors.validation import name_key

DEFAULT_THRESHOLD = 90  # rapidfuzz token_sort_ratio on normalised names, 0-100
FORMATS = ("ofac_sdn", "names")
_NULL = "-0-"  # OFAC's empty value


@dataclass
class Entry:
    uid: str
    name: str
    entry_type: str | None = None
    program: str | None = None


def parse(data: bytes, *, filename: str, fmt: str) -> list[Entry]:
    """Read a list file. ``ofac_sdn``: the SDN.CSV layout, no header, columns ent_num, SDN_Name, SDN_Type,
    Program, Title, Call_Sign, Vess_type, Tonnage, GRT, Vess_flag, Vess_owner, Remarks (``-0-`` empty).
    ``names``: a header row with a ``name`` column (``uid``, ``type``, ``program`` optional).

    Raises ValidationFailed listing every bad line (file, line, field); nothing is loaded then.
    """
    if fmt not in FORMATS:
        raise ValidationFailed(f"{filename}: unknown list format {fmt!r}; use one of {', '.join(FORMATS)}",
                               errors=[{"file": filename, "line": None, "field": "format", "message": "unknown"}])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")  # the OFAC files are plain ASCII/Latin-1
    rows = list(csv.reader(io.StringIO(text)))
    errors: list[dict] = []
    out: list[Entry] = []

    def bad(line: int, fld: str, message: str) -> None:
        errors.append({"file": filename, "line": line, "field": fld, "message": message})

    if fmt == "ofac_sdn":
        for n, row in enumerate(rows, start=1):
            if not row or all(not c.strip() for c in row) or row[0].strip() == "\x1a":
                continue
            if len(row) < 4:
                bad(n, "SDN_Name", f"expected the 12 SDN.CSV columns, found {len(row)}")
                continue
            uid, name = row[0].strip(), row[1].strip()
            if not uid.isdigit():
                bad(n, "ent_num", f"{uid!r} is not an entity number")
            if not name or name == _NULL:
                bad(n, "SDN_Name", "empty name")
            if uid.isdigit() and name and name != _NULL:
                out.append(Entry(uid, name, _val(row[2]), _val(row[3])))
    else:
        if not rows:
            bad(1, "name", "the file is empty; expected a header row with a name column")
        else:
            header = [h.strip().lower() for h in rows[0]]
            if "name" not in header:
                bad(1, "name", "the header row has no name column")
            else:
                col = {h: i for i, h in enumerate(header)}
                for n, row in enumerate(rows[1:], start=2):
                    if not row or all(not c.strip() for c in row):
                        continue
                    name = row[col["name"]].strip() if len(row) > col["name"] else ""
                    if not name:
                        bad(n, "name", "empty name")
                        continue

                    def get(key: str, row=row) -> str | None:
                        return row[col[key]].strip() or None if key in col and len(row) > col[key] else None

                    out.append(Entry(get("uid") or str(n), name, get("type"), get("program")))
    if errors:
        shown = "; ".join(f"{e['file']} line {e['line']}: {e['field']}: {e['message']}" for e in errors[:20])
        raise ValidationFailed(f"{filename}: {len(errors)} bad line(s), nothing loaded: {shown}", errors=errors)
    return out


def _val(cell: str) -> str | None:
    cell = cell.strip()
    return None if not cell or cell == _NULL else cell


@dataclass
class LoadResult:
    list_id: int
    source: str
    entries: int
    already_loaded: bool = False
    rescreened: int = 0
    new_hits: list[dict] = field(default_factory=list)


def load_list(*, session: Session, data: bytes, filename: str, fmt: str, actor: Actor, source: str | None = None,
              threshold: int = DEFAULT_THRESHOLD) -> LoadResult:
    """Load a sanctions list; it replaces the current list of the same source. Then every active vendor
    is screened again and the new hits are reported (and recorded: they block re-activation, and the
    vendor's screening status becomes ``hit``). The same file again changes nothing.
    """
    source = source or fmt
    digest = hashlib.sha256(data).hexdigest()
    current = session.scalar(select(SanctionsList).where(SanctionsList.source == source,
                                                         SanctionsList.is_current.is_(True)))
    if current is not None and current.sha256 == digest:
        return LoadResult(current.id, source, current.entries, already_loaded=True)
    entries = parse(data, filename=filename, fmt=fmt)
    session.execute(update(SanctionsList).where(SanctionsList.source == source).values(is_current=False))
    lst = SanctionsList(source=source, filename=filename[:255], sha256=digest, entries=len(entries),
                        is_current=True, loaded_by=actor.label)
    session.add(lst)
    session.flush()
    rows = [{"list_id": lst.id, "uid": e.uid[:40], "name": e.name[:400], "name_key": name_key(e.name)[:400],
             "entry_type": e.entry_type and e.entry_type[:40], "program": e.program and e.program[:200]}
            for e in entries]
    for k in range(0, len(rows), 5000):
        session.execute(insert(SanctionsEntry.__table__), rows[k:k + 5000])
    vendors = list(session.scalars(select(Vendor).where(Vendor.status == VendorStatus.active)))
    found = screen_many(session=session, vendors=vendors, actor=actor, threshold=threshold, audit=False)
    new_hits = [_hit_dict(h) for hits in found.values() for h in hits]
    record(session, actor=actor, action="sanctions_list.loaded", entity_type="sanctions_list", entity_id=lst.id,
           after={"source": source, "filename": filename, "sha256": digest, "entries": len(entries),
                  "rescreened_active_vendors": len(vendors), "new_hits": new_hits})
    return LoadResult(lst.id, source, len(entries), rescreened=len(vendors), new_hits=new_hits)


def _hit_dict(h: ScreeningHit) -> dict:
    return {"hit_id": h.id, "vendor_id": h.vendor_id, "matched_name": h.matched_name, "entry_name": h.entry_name,
            "entry_uid": h.entry_uid, "list": h.list_source, "score": h.score}


def _current_entries(session: Session) -> list[tuple]:
    return session.execute(
        select(SanctionsEntry.uid, SanctionsEntry.name, SanctionsEntry.name_key, SanctionsList.id,
               SanctionsList.source)
        .join(SanctionsList, SanctionsList.id == SanctionsEntry.list_id)
        .where(SanctionsList.is_current.is_(True))).all()


def screen_many(*, session: Session, vendors: list[Vendor], actor: Actor, threshold: int = DEFAULT_THRESHOLD,
                audit: bool = True) -> dict[int, list[ScreeningHit]]:
    """Screen vendors (legal name and every other name) against all current lists in one pass.

    Returns the new hits per vendor id. A match already recorded for the vendor (same list source, entry
    and name; open or cleared) is not new: a cleared hit stays cleared when the list is reloaded.
    """
    has_list = session.scalar(select(SanctionsList.id).where(SanctionsList.is_current.is_(True)).limit(1))
    if has_list is None:
        raise Conflict("no sanctions list is loaded; load one first (triad vendors screening load FILE)")
    entries = _current_entries(session)
    choices = [e[2] for e in entries]
    queries: list[tuple[Vendor, str]] = [(v, n) for v in vendors for n in [v.legal_name, *(v.other_names or [])]
                                         if n and n.strip()]
    matches: dict[int, list[tuple[str, tuple, float]]] = {}
    if choices and queries:
        for k in range(0, len(queries), 2000):
            part = queries[k:k + 2000]
            scores = process.cdist([name_key(n) for _, n in part], choices, scorer=fuzz.token_sort_ratio,
                                   score_cutoff=threshold, workers=-1)
            for i, j in zip(*scores.nonzero(), strict=True):
                v, n = part[i]
                matches.setdefault(v.id, []).append((n, entries[j], float(scores[i, j])))
    ids = [v.id for v in vendors]
    known: set[tuple] = set()
    for k in range(0, len(ids), 1000):
        known |= set(session.execute(select(ScreeningHit.vendor_id, ScreeningHit.list_source, ScreeningHit.entry_uid,
                                            ScreeningHit.matched_name)
                                     .where(ScreeningHit.vendor_id.in_(ids[k:k + 1000]))).all())
    now = utcnow()
    new: dict[int, list[ScreeningHit]] = {}
    events = []
    for v in vendors:
        for name, (uid, ename, _key, list_id, src), score in matches.get(v.id, []):
            if (v.id, src, uid, name) in known:
                continue
            known.add((v.id, src, uid, name))
            hit = ScreeningHit(vendor_id=v.id, list_id=list_id, list_source=src, entry_uid=uid, entry_name=ename,
                               matched_name=name[:300], score=Decimal(str(round(score, 1))), found_at=now)
            session.add(hit)
            new.setdefault(v.id, []).append(hit)
        before = {"screening_status": v.screening_status}
        v.screened_at = now
        v.screening_status = _status_after(session, v, new.get(v.id, []))
        events.append({"action": "vendor.screened", "entity_type": "vendor", "entity_id": v.id, "before": before,
                       "after": {"screening_status": v.screening_status, "new_hits": len(new.get(v.id, []))}})
    session.flush()
    if audit:
        record_many(session, actor=actor, events=events)
    else:  # only vendors whose result changed get their own event (the list load's event names the rest)
        record_many(session, actor=actor, events=[e for e in events if e["before"]["screening_status"]
                                                  != e["after"]["screening_status"] or e["after"]["new_hits"]])
    return new


def _status_after(session: Session, vendor: Vendor, new_hits: list[ScreeningHit]) -> str:
    statuses = set(session.scalars(select(ScreeningHit.status).where(ScreeningHit.vendor_id == vendor.id)))
    statuses |= {h.status for h in new_hits}
    if "open" in statuses:
        return ScreeningStatus.hit
    return ScreeningStatus.cleared if "cleared" in statuses else ScreeningStatus.clear


def screen_vendor(*, session: Session, vendor: Vendor, actor: Actor,
                  threshold: int = DEFAULT_THRESHOLD) -> list[ScreeningHit]:
    """Screen one vendor now; one audit event. Returns the new hits."""
    return screen_many(session=session, vendors=[vendor], actor=actor, threshold=threshold).get(vendor.id, [])


def clear_hit(*, session: Session, hit: ScreeningHit, reviewer: User, reason: str) -> ScreeningHit:
    """A reviewer (legal) clears a match as a false positive, with a reason. When no open match is left
    the vendor's screening counts as passed (``cleared``)."""
    if not has(reviewer.role, Perm.vendors_review):
        raise PermissionDenied(f"your role ({reviewer.role}) cannot clear screening matches")
    if hit.status != "open":
        raise Conflict(f"hit {hit.id} is already {hit.status}")
    if len((reason or "").strip()) < 3:
        raise ValidationFailed("reason: say why the match is not the vendor",
                               errors=[{"field": "reason", "message": "required"}])
    hit.status, hit.cleared_by, hit.cleared_by_id, hit.cleared_at, hit.reason = (
        "cleared", reviewer.username, reviewer.id, utcnow(), reason.strip())
    session.flush()
    vendor = session.get(Vendor, hit.vendor_id)
    before = vendor.screening_status
    vendor.screening_status = _status_after(session, vendor, [])
    session.flush()
    record(session, actor=Actor.of(reviewer), action="vendor.screening_hit_cleared", entity_type="vendor",
           entity_id=vendor.id, before={"hit_id": hit.id, "hit_status": "open", "screening_status": before},
           after={"hit_id": hit.id, "hit_status": "cleared", "screening_status": vendor.screening_status,
                  "entry_name": hit.entry_name, "matched_name": hit.matched_name}, reason=hit.reason)
    return hit
