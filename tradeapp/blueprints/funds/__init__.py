"""Funds: wallets, transfers and history (deposits and withdrawals live beside them)."""
