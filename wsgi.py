"""Production entry point: ``gunicorn wsgi:app`` (and ``flask --app wsgi`` for the CLI)."""

from dotenv import load_dotenv

load_dotenv()

from tradeapp import create_app  # noqa: E402

app = create_app()
