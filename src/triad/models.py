"""Imports every model so the metadata is complete (Alembic, tests, scoping)."""

from triad.ap.models import ApBatch, ApBatchItem, ApRoute, ImportedPaymentFile, InvoiceCredit, Payment, SyncRun
from triad.audit.models import AuditEvent, AuditHead
from triad.auth.models import ApiToken, User, WebSession
from triad.budgets.models import Budget
from triad.contracts.models import Contract, ContractKeyDate
from triad.core.db import Base
from triad.files.models import StoredFile
from triad.firms.models import LawFirm, Timekeeper, TimekeeperRate
from triad.fx.models import FXRate
from triad.guidelines.models import GuidelineSet, GuidelineVersion, InvoiceFinding
from triad.idempotency.models import IdempotencyRecord
from triad.invoices.models import (
    ApprovalLevel,
    Invoice,
    InvoiceAllocation,
    InvoiceApproval,
    InvoiceLine,
    InvoiceStateChange,
)
from triad.matters.models import Engagement, Matter, MatterAllocation
from triad.notifications.models import Notification, OutboxEmail
from triad.org.models import BusinessUnit, CostCenter, GLAccount
from triad.vendors.models import (
    SanctionsEntry,
    SanctionsList,
    ScreeningHit,
    Vendor,
    VendorAddress,
    VendorBankAccount,
    VendorBusinessUnit,
    VendorConflict,
    VendorContact,
    VendorDuplicate,
    VendorPendingChange,
    VendorStatusChange,
    VendorTaxId,
)

metadata = Base.metadata

__all__ = [
    "ApBatch", "ApBatchItem", "ApRoute", "ApiToken", "ApprovalLevel", "AuditEvent", "AuditHead", "Budget",
    "BusinessUnit", "Contract", "ContractKeyDate", "CostCenter", "Engagement", "FXRate", "GLAccount",
    "GuidelineSet", "GuidelineVersion", "IdempotencyRecord", "ImportedPaymentFile", "Invoice", "InvoiceAllocation",
    "InvoiceApproval", "InvoiceCredit", "InvoiceFinding", "InvoiceLine", "InvoiceStateChange", "LawFirm", "Matter",
    "MatterAllocation", "Notification", "OutboxEmail", "Payment", "SanctionsEntry", "SanctionsList",
    "ScreeningHit", "StoredFile", "SyncRun", "Timekeeper", "TimekeeperRate", "User", "Vendor", "VendorAddress",
    "VendorBankAccount", "VendorBusinessUnit", "VendorConflict", "VendorContact", "VendorDuplicate",
    "VendorPendingChange", "VendorStatusChange", "VendorTaxId", "WebSession", "metadata",
]
