"""The audit log: hash-chained records of every decision, action, view and sign-in."""

from connectors.audit.checks import Checked, query, verify_directory
from connectors.audit.file import AuditLogBusy, AuditLogError, FileAuditLog, chains, read

__all__ = [
    "AuditLogBusy",
    "AuditLogError",
    "Checked",
    "FileAuditLog",
    "chains",
    "query",
    "read",
    "verify_directory",
]
