"""Copy trading: lead traders, subscriptions with a ledger-held allocation, exact copying, profit share, stats."""

from tradeapp.services.copy_trading import engine, profit_share, sizing, stats, subscriptions, traders

__all__ = ["engine", "profit_share", "sizing", "stats", "subscriptions", "traders"]
