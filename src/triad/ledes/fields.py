"""Field layouts of the pipe-delimited LEDES formats.

LEDES 1998B has 24 fields; LEDES 98BI keeps those 24 in the same order and adds 28
(tax, currency, firm and client address fields) for 52 in all. Every record ends in ``[]``.
"""

from __future__ import annotations

from dataclasses import dataclass

# kind: str, date (YYYYMMDD), num (decimal), int, code (UTBMS), type (F/E/IF/IE)


@dataclass(frozen=True, slots=True)
class Field:
    name: str  # as written in the field-name record
    kind: str = "str"
    max_len: int | None = None
    required: bool = False

    @property
    def col(self) -> str:
        """Column name inside Triad (lower case, safe)."""
        return self.name.lower().replace("/", "_")


FIELDS_1998B: tuple[Field, ...] = (
    Field("INVOICE_DATE", "date", required=True),
    Field("INVOICE_NUMBER", "str", 20, required=True),
    Field("CLIENT_ID", "str", 20, required=True),
    Field("LAW_FIRM_MATTER_ID", "str", 20, required=True),
    Field("INVOICE_TOTAL", "num", required=True),
    Field("BILLING_START_DATE", "date", required=True),
    Field("BILLING_END_DATE", "date", required=True),
    Field("INVOICE_DESCRIPTION", "str", 15000),
    Field("LINE_ITEM_NUMBER", "int", 20, required=True),
    Field("EXP/FEE/INV_ADJ_TYPE", "type", required=True),
    Field("LINE_ITEM_NUMBER_OF_UNITS", "num"),
    Field("LINE_ITEM_ADJUSTMENT_AMOUNT", "num"),
    Field("LINE_ITEM_TOTAL", "num", required=True),
    Field("LINE_ITEM_DATE", "date", required=True),
    Field("LINE_ITEM_TASK_CODE", "code", 20),
    Field("LINE_ITEM_EXPENSE_CODE", "code", 20),
    Field("LINE_ITEM_ACTIVITY_CODE", "code", 20),
    Field("TIMEKEEPER_ID", "str", 20),
    Field("LINE_ITEM_DESCRIPTION", "str", 15000),
    Field("LAW_FIRM_ID", "str", 50, required=True),
    Field("LINE_ITEM_UNIT_COST", "num"),
    Field("TIMEKEEPER_NAME", "str", 30),
    Field("TIMEKEEPER_CLASSIFICATION", "str", 10),
    Field("CLIENT_MATTER_ID", "str", 20),
)

FIELDS_98BI: tuple[Field, ...] = FIELDS_1998B + (
    Field("PO_NUMBER", "str", 100),
    Field("CLIENT_TAX_ID", "str", 50),
    Field("MATTER_NAME", "str", 255),
    Field("INVOICE_TAX_TOTAL", "num"),
    Field("INVOICE_NET_TOTAL", "num"),
    Field("INVOICE_CURRENCY", "currency", required=True),
    Field("TIMEKEEPER_LAST_NAME", "str", 255),
    Field("TIMEKEEPER_FIRST_NAME", "str", 255),
    Field("ACCOUNT_TYPE", "str", 1),
    Field("LAW_FIRM_NAME", "str", 255),
    Field("LAW_FIRM_ADDRESS_1", "str", 255),
    Field("LAW_FIRM_ADDRESS_2", "str", 255),
    Field("LAW_FIRM_CITY", "str", 255),
    Field("LAW_FIRM_STATEorREGION", "str", 255),
    Field("LAW_FIRM_POSTCODE", "str", 255),
    Field("LAW_FIRM_COUNTRY", "country"),
    Field("CLIENT_NAME", "str", 255),
    Field("CLIENT_ADDRESS_1", "str", 255),
    Field("CLIENT_ADDRESS_2", "str", 255),
    Field("CLIENT_CITY", "str", 255),
    Field("CLIENT_STATEorREGION", "str", 255),
    Field("CLIENT_POSTCODE", "str", 255),
    Field("CLIENT_COUNTRY", "country"),
    Field("LINE_ITEM_TAX_RATE", "num"),
    Field("LINE_ITEM_TAX_TOTAL", "num"),
    Field("LINE_ITEM_TAX_TYPE", "str", 20),
    Field("INVOICE_REPORTED_TAX_TOTAL", "num"),
    Field("INVOICE_TAX_CURRENCY", "currency"),
)

ALL_COLUMNS: tuple[str, ...] = tuple(f.col for f in FIELDS_98BI)
BY_COL: dict[str, Field] = {f.col: f for f in FIELDS_98BI}

# Fields that describe the invoice, not the line: they must be equal on every line of one invoice.
INVOICE_LEVEL = ("invoice_date", "client_id", "billing_start_date", "billing_end_date", "invoice_description",
                 "invoice_currency", "invoice_tax_total", "invoice_net_total", "client_name", "law_firm_name",
                 "invoice_reported_tax_total", "invoice_tax_currency", "client_tax_id", "po_number")

# LEDES timekeeper classifications.
TK_CLASSIFICATIONS = ("PARTNR", "ASSOC", "OFCNSL", "PARLGL", "LGLAST", "OTHR")
LINE_TYPES = ("F", "E", "IF", "IE")

HEADER_1998B = "LEDES1998B[]"
HEADERS_98BI = ("LEDES98BI V2[]", "LEDES98BI V5[]")
