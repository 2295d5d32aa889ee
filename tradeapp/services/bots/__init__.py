"""Bots: strategies, the backtester, bot management and evaluation (see each module)."""
