"""Ledger back office: reconciliation report and per-user ledgers."""
