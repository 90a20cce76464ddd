"""What the descriptions say: block billing, vague entries, clerical work by lawyers, internal
conferences, travel time."""

from __future__ import annotations

import re
from collections import defaultdict
from decimal import Decimal

import polars as pl
from pydantic import Field

from triad.core.schemas import AmountIn
from triad.guidelines.frame import contains_any, fee, low_contains_any, micro
from triad.guidelines.registry import Hit, RuleSettings, prefilter, rule

LAWYERS = ["PARTNR", "OFCNSL", "ASSOC"]


class BlockBilling(RuleSettings):
    separators: list[str] = Field(default_factory=lambda: [";", " / "])
    max_tasks: int = 1
    min_units: AmountIn = Decimal("0")  # short entries may combine small tasks


@rule("block_billing", "Several tasks in one time entry (block billing)", BlockBilling)
def block_billing(invoice, lines, ctx, s: BlockBilling):
    for ln in lines:
        if not ln.is_fee or ln.units < s.min_units:
            continue
        parts = [ln.description]
        for sep in s.separators:
            parts = [p for chunk in parts for p in chunk.split(sep)]
        tasks = [p for p in parts if len(p.split()) >= 2]
        if len(tasks) > s.max_tasks:
            yield Hit(ln, f"{len(tasks)} tasks in one entry of {ln.units} h: "
                          f"{'; '.join(t.strip() for t in tasks[:4])}")


class Vague(RuleSettings):
    min_words: int = 3
    phrases: list[str] = Field(default_factory=lambda: [
        "attention to file", "work on file", "review file", "various", "miscellaneous", "general research",
        "follow up", "case management"])


@rule("vague_description", "Description too short or too vague to show what was done", Vague)
def vague_description(invoice, lines, ctx, s: Vague):
    for ln in lines:
        if not ln.is_fee:
            continue
        text = ln.description.strip().lower()
        words = re.findall(r"[a-z0-9]+", text)
        if len(words) < s.min_words:
            yield Hit(ln, f"'{ln.description.strip()}' has {len(words)} word(s); at least {s.min_words} are needed")
        elif any(text == p or text.startswith(p + " ") or text == p + "." for p in s.phrases):
            yield Hit(ln, f"'{ln.description.strip()}' does not say what was done")


class Clerical(RuleSettings):
    keywords: list[str] = Field(default_factory=lambda: [
        "photocopy", "copying", "scan documents", "bates", "file documents", "organize files", "schedule meeting",
        "calendar", "prepare binder", "index documents", "update file"])
    classifications: list[str] = Field(default_factory=lambda: list(LAWYERS))


@rule("clerical_work", "Clerical or administrative work billed by a lawyer", Clerical)
def clerical_work(invoice, lines, ctx, s: Clerical):
    for ln in lines:
        if not ln.is_fee or ln.classification not in s.classifications:
            continue
        text = ln.description.lower()
        word = next((k for k in s.keywords if k in text), None)
        if word:
            yield Hit(ln, f"'{word}' is clerical work billed by a {ln.classification}", -ln.total)


class Conferences(RuleSettings):
    keywords: list[str] = Field(default_factory=lambda: [
        "internal conference", "office conference", "internal meeting", "conference with team", "team meeting",
        "confer with"])
    max_attendees: int = 2


@rule("internal_conference", "Internal conference billed by more timekeepers than allowed", Conferences)
def internal_conference(invoice, lines, ctx, s: Conferences):
    by_day: dict = defaultdict(list)
    for ln in lines:
        if ln.is_fee and any(k in ln.description.lower() for k in s.keywords):
            by_day[ln.date].append(ln)
    for day, entries in by_day.items():
        people = list(dict.fromkeys(e.timekeeper_id for e in entries))
        if len(people) <= s.max_attendees:
            continue
        allowed = set(people[: s.max_attendees])
        for e in entries:
            if e.timekeeper_id not in allowed:
                yield Hit(e, f"{len(people)} timekeepers billed an internal conference on {day}; "
                             f"at most {s.max_attendees} may", -e.total)


class Travel(RuleSettings):
    keywords: list[str] = Field(default_factory=lambda: ["travel"])
    allowed_share: AmountIn = Decimal("0.5")  # share of the hourly rate paid for travel time


@rule("travel_time", "Travel time billed above the allowed share of the rate", Travel)
def travel_time(invoice, lines, ctx, s: Travel):
    for ln in lines:
        if not ln.is_fee or not any(k in ln.description.lower() for k in s.keywords):
            continue
        allowed = (ln.units * ln.unit_cost * s.allowed_share).quantize(Decimal("0.01"))
        if ln.total > allowed:
            yield Hit(ln, f"travel billed at {ln.total:.2f}; {s.allowed_share:%} of the rate allows {allowed:.2f}",
                      allowed - ln.total)


@prefilter("block_billing")
def _block_rows(frame, s: BlockBilling, ctx):
    # without a separator a description is one task
    m = micro(s.min_units)
    long_enough = pl.lit(True) if m is None else pl.col("units") >= m
    if s.max_tasks < 1 or "" in s.separators:
        return fee() & long_enough
    if not s.separators:
        return pl.lit(False)
    return fee() & long_enough & contains_any("desc", s.separators)


@prefilter("vague_description")
def _vague_rows(frame, s: Vague, ctx):
    # fewer than min_words runs of [a-z0-9]: no match of that many runs (a search that stops at the
    # first match, instead of counting every run of every description)
    if s.min_words <= 0:
        few_words = pl.lit(False)
    else:
        few_words = ~pl.col("low").str.contains(f"(?:[a-z0-9]+[^a-z0-9]+){{{s.min_words - 1}}}[a-z0-9]")
    return fee() & (~pl.col("ascii") | few_words | low_contains_any(s.phrases))


@prefilter("clerical_work")
def _clerical_rows(frame, s: Clerical, ctx):
    return fee() & pl.col("cls").is_in(s.classifications).fill_null(False) & low_contains_any(s.keywords)


@prefilter("internal_conference")
def _conference_rows(frame, s: Conferences, ctx):
    return fee() & low_contains_any(s.keywords)


@prefilter("travel_time")
def _travel_rows(frame, s: Travel, ctx):
    return fee() & low_contains_any(s.keywords)
