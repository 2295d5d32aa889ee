"""Withdrawals: the customer page, the staff queue and the JSON API over services.withdrawals."""
