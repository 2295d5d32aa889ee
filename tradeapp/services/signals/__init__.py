"""Premium signals: providers and plans (catalog), paid subscriptions, publishing and fan-out,
outcomes from platform prices (lifecycle), and one-click execution through the order service."""
