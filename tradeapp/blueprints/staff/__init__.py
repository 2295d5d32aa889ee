"""Staff console: dashboard, two-factor, audit log, navigation."""
