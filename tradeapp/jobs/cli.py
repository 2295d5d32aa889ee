"""Job CLI (HELPER FILLS IN)."""

from flask.cli import AppGroup

jobs_cli = AppGroup("jobs", help="Background jobs.")
