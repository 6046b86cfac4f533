"""Reconciliation services: `reconciliation_run` compares a tenant's sources with Xero for a period."""

from reconciliation.services.runs import reconciliation_run, reconciliation_run_execute

__all__ = ["reconciliation_run", "reconciliation_run_execute"]
