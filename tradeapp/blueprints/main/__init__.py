"""Home, dashboard, health and the embedded-mode outbox."""
