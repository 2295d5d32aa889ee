"""Development entry point: ``python app.py`` serves the app with the Socket.IO dev server.

With no DATABASE_URL/REDIS_URL this is embedded mode: SQLite under instance/, jobs in-process,
the simulated market feed in a background thread.
"""

import os

from dotenv import load_dotenv

load_dotenv()

from tradeapp import create_app  # noqa: E402
from tradeapp.extensions import socketio  # noqa: E402

app = create_app()

if __name__ == "__main__":
    if app.config["EMBEDDED"]:
        from tradeapp.market.runner import start_embedded_feed

        start_embedded_feed(app)
    port = int(os.environ.get("PORT", app.config["PORT"]))
    host = os.environ.get("HOST", "127.0.0.1")
    socketio.run(app, host=host, port=port, debug=False, allow_unsafe_werkzeug=True)
