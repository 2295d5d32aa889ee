"""Feed CLI (HELPER FILLS IN)."""

from flask.cli import AppGroup

feed_cli = AppGroup("feed", help="Market feed.")
