"""Engine tuning per backend.

SQLite: pysqlite's legacy transaction handling does not BEGIN before a SELECT, so a
read-then-write can lose updates. We use SQLAlchemy's documented non-legacy mode: the driver
does no transaction handling and every transaction starts with ``BEGIN IMMEDIATE``, which
takes the write lock up front (SQLite's equivalent of row locks: one writer at a time).
"""

from flask import Flask
from sqlalchemy import event

from tradeapp.extensions import db


def init_db(app: Flask) -> None:
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return
    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "connect")
    def _sqlite_connect(dbapi_connection, connection_record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
