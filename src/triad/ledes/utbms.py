"""ABA Uniform Task-Based Management System (UTBMS) code sets.

The lists below are written from the ABA's published UTBMS code sets (litigation,
counseling, project and bankruptcy task codes, plus the activity and expense codes)
with their official names. Some public copies of these lists are wrong -- for example
L130 is "Experts/Consultants", not "Discovery" (discovery is the L300 phase) -- so do
not "correct" these names from secondary sources.

This is a pure-data module: importing it only builds dictionaries.
"""

from __future__ import annotations

__all__ = [
    "ACTIVITIES",
    "CODE_SETS",
    "EXPENSES",
    "PHASES",
    "TASK_SET",
    "code_set_of",
    "is_activity",
    "is_expense",
    "is_task",
    "name",
]

LITIGATION: dict[str, str] = {
    "L100": "Case Assessment, Development and Administration",
    "L110": "Fact Investigation/Development",
    "L120": "Analysis/Strategy",
    "L130": "Experts/Consultants",
    "L140": "Document/File Management",
    "L150": "Budgeting",
    "L160": "Settlement/Non-Binding ADR",
    "L190": "Other Case Assessment, Development and Administration",
    "L200": "Pre-Trial Pleadings and Motions",
    "L210": "Pleadings",
    "L220": "Preliminary Injunctions/Provisional Remedies",
    "L230": "Court Mandated Conferences",
    "L240": "Dispositive Motions",
    "L250": "Other Written Motions and Submissions",
    "L260": "Class Action Certification and Notice",
    "L300": "Discovery",
    "L310": "Written Discovery",
    "L320": "Document Production",
    "L330": "Depositions",
    "L340": "Expert Discovery",
    "L350": "Discovery Motions",
    "L390": "Other Discovery",
    "L400": "Trial Preparation and Trial",
    "L410": "Fact Witnesses",
    "L420": "Expert Witnesses",
    "L430": "Written Motions and Submissions",
    "L440": "Other Trial Preparation and Support",
    "L450": "Trial and Hearing Attendance",
    "L460": "Post-Trial Motions and Submissions",
    "L470": "Enforcement",
    "L500": "Appeal",
    "L510": "Appellate Motions and Submissions",
    "L520": "Appellate Briefs",
    "L530": "Oral Argument",
}

COUNSELING: dict[str, str] = {
    "C100": "Fact Gathering",
    "C200": "Researching Law",
    "C300": "Analysis and Advice",
    "C400": "Third Party Communication",
}

PROJECT: dict[str, str] = {
    "P100": "Project Administration",
    "P200": "Fact Gathering/Due Diligence",
    "P210": "Corporate Review",
    "P220": "Tax",
    "P230": "Environmental",
    "P240": "Real and Personal Property",
    "P250": "Employee/Labor",
    "P260": "Intellectual Property",
    "P270": "Regulatory Reviews",
    "P280": "Other",
    "P300": "Structure/Strategy/Analysis",
    "P400": "Initial Document Preparation/Filing",
    "P500": "Negotiation/Revision/Responses",
    "P600": "Completion/Closing",
    "P700": "Post-Completion/Post-Closing",
    "P800": "Maintenance and Renewal",
}

BANKRUPTCY: dict[str, str] = {
    "B100": "Administration",
    "B110": "Case Administration",
    "B120": "Asset Analysis and Recovery",
    "B130": "Asset Disposition",
    "B140": "Relief from Stay/Adequate Protection Proceedings",
    "B150": "Meetings of and Communications with Creditors",
    "B160": "Fee/Employment Applications",
    "B170": "Fee/Employment Objections",
    "B180": "Avoidance Action Analysis",
    "B185": "Assumption/Rejection of Leases and Contracts",
    "B190": "Other Contested Matters (excluding assumption/rejection motions)",
    "B195": "Non-Working Travel",
    "B200": "Operations",
    "B210": "Business Operations",
    "B220": "Employee Benefits/Pensions",
    "B230": "Financing/Cash Collections",
    "B240": "Tax Issues",
    "B250": "Real Estate",
    "B260": "Board of Directors Matters",
    "B300": "Claims and Plan",
    "B310": "Claims Administration and Objections",
    "B320": "Plan and Disclosure Statement (including Business Plan)",
    "B400": "Bankruptcy-Related Advice",
    "B410": "General Bankruptcy Advice/Opinions",
    "B420": "Restructurings",
}

#: Task code sets keyed by code-set id; each maps code -> official name (phases and tasks).
CODE_SETS: dict[str, dict[str, str]] = {
    "litigation": LITIGATION,
    "counseling": COUNSELING,
    "project": PROJECT,
    "bankruptcy": BANKRUPTCY,
}

#: Activity codes -> official name.
ACTIVITIES: dict[str, str] = {
    "A101": "Plan and prepare for",
    "A102": "Research",
    "A103": "Draft/revise",
    "A104": "Review/analyze",
    "A105": "Communicate (in firm)",
    "A106": "Communicate (with client)",
    "A107": "Communicate (other outside counsel)",
    "A108": "Communicate (other external)",
    "A109": "Appear for/attend",
    "A110": "Manage data/files",
    "A111": "Other",
}

#: Expense codes -> official name.
EXPENSES: dict[str, str] = {
    "E101": "Copying",
    "E102": "Outside printing",
    "E103": "Word processing",
    "E104": "Facsimile",
    "E105": "Telephone",
    "E106": "Online research",
    "E107": "Delivery services/messengers",
    "E108": "Postage",
    "E109": "Local travel",
    "E110": "Out-of-town travel",
    "E111": "Meals",
    "E112": "Court fees",
    "E113": "Subpoena fees",
    "E114": "Witness fees",
    "E115": "Deposition transcripts",
    "E116": "Trial transcripts",
    "E117": "Trial exhibits",
    "E118": "Litigation support vendors",
    "E119": "Experts",
    "E120": "Private investigators",
    "E121": "Arbitrators/mediators",
    "E122": "Local counsel",
    "E123": "Other professionals",
    "E124": "Other",
}


def _hundred(code: str) -> str:
    """The phase code (same letter, same hundred) that a hierarchical task code falls under."""
    return f"{code[0]}{code[1]}00"


def _build_phases() -> dict[str, str]:
    phases: dict[str, str] = {}
    # Litigation and bankruptcy: every task belongs to the phase of its hundred.
    for code in (*LITIGATION, *BANKRUPTCY):
        phases[code] = _hundred(code)
    # Counseling has no phase/task hierarchy: every code is top-level.
    for code in COUNSELING:
        phases[code] = code
    # Project: P210-P280 are tasks under P200; P100 and P300-P800 are top-level.
    for code in PROJECT:
        phases[code] = "P200" if code.startswith("P2") else code
    return phases


#: Task (or phase) code -> its phase code; a phase or top-level code maps to itself.
PHASES: dict[str, str] = _build_phases()

#: Task (or phase) code -> code-set id.
TASK_SET: dict[str, str] = {code: set_id for set_id, codes in CODE_SETS.items() for code in codes}


def _norm(code: str) -> str:
    return code.strip().upper() if isinstance(code, str) else ""


def code_set_of(code: str) -> str | None:
    """Return the code-set id ("litigation", ...) of a task/phase code, or None."""
    return TASK_SET.get(_norm(code))


def is_task(code: str) -> bool:
    """True if ``code`` is a UTBMS task or phase code in any known code set."""
    return _norm(code) in TASK_SET


def is_activity(code: str) -> bool:
    """True if ``code`` is a UTBMS activity code (A101-A111)."""
    return _norm(code) in ACTIVITIES


def is_expense(code: str) -> bool:
    """True if ``code`` is a UTBMS expense code (E101-E124)."""
    return _norm(code) in EXPENSES


def name(code: str) -> str | None:
    """Official name of any UTBMS code (task, phase, activity or expense), or None."""
    key = _norm(code)
    set_id = TASK_SET.get(key)
    if set_id is not None:
        return CODE_SETS[set_id][key]
    return ACTIVITIES.get(key) or EXPENSES.get(key)
