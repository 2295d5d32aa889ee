"""A fake Onfido on 127.0.0.1: the v3.6 subset our adapter speaks, recording every request."""

import email.parser
import email.policy
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

API_TOKEN = "test_onfido_api_token"
WEBHOOK_TOKEN = "test_onfido_webhook_token"
PREFIX = "/v3.6"


def parse_multipart(content_type: str, body: bytes) -> dict:
    """``{field: value}``; a file field becomes ``{"filename", "content_type", "content"}``."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    fields = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        content = part.get_payload(decode=True)
        if part.get_filename() is not None:
            fields[name] = {
                "filename": part.get_filename(),
                "content_type": part.get_content_type(),
                "content": content,
            }
        else:
            fields[name] = content.decode()
    return fields


class FakeOnfido:
    """State of the fake server: requests seen, and the result ``GET /checks/<id>`` reports."""

    def __init__(self):
        self.requests: list[dict] = []
        self.result = "clear"
        self.fail_with: int | None = None
        self.url = ""
        self.lock = threading.Lock()

    def of(self, method: str, path: str) -> list[dict]:
        return [r for r in self.requests if r["method"] == method and r["path"] == path]

    def respond(self, method: str, path: str, headers, body: bytes) -> tuple[int, dict]:
        content_type = headers.get("Content-Type", "")
        if content_type.startswith("multipart/form-data"):
            parsed = parse_multipart(content_type, body)
        elif body:
            parsed = json.loads(body)
        else:
            parsed = None
        with self.lock:
            self.requests.append({"method": method, "path": path, "auth": headers.get("Authorization"), "body": parsed})
        if headers.get("Authorization") != f"Token token={API_TOKEN}":
            return 401, {"error": {"type": "authorization_error", "message": "Authorization error"}}
        if self.fail_with:
            return self.fail_with, {"error": {"type": "internal_server_error", "message": "Boom"}}
        new_id = str(uuid.uuid4())
        if method == "POST" and path == "/applicants/":
            return 201, {"id": new_id, "created_at": "2026-11-01T10:00:00Z", **parsed}
        if method == "POST" and path == "/documents":
            return 201, {"id": new_id, "type": parsed.get("type"), "side": parsed.get("side")}
        if method == "POST" and path == "/live_photos":
            return 201, {"id": new_id, "file_name": parsed["file"]["filename"]}
        if method == "POST" and path == "/checks":
            return 201, {
                "id": new_id,
                "status": "in_progress",
                "result": None,
                "applicant_id": parsed["applicant_id"],
                "href": f"{PREFIX}/checks/{new_id}",
            }
        if method == "GET" and path.startswith("/checks/"):
            check_id = path.rsplit("/", 1)[1]
            return 200, {"id": check_id, "status": "complete", "result": self.result, "href": f"{PREFIX}{path}"}
        return 404, {"error": {"type": "resource_not_found", "message": "Not found"}}


@pytest.fixture()
def fake_onfido(app, monkeypatch):
    """A running fake Onfido; the app's ONFIDO_* settings point at it for the test."""
    fake = FakeOnfido()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            path = self.path[len(PREFIX) :] if self.path.startswith(PREFIX) else "/unknown"
            status, payload = fake.respond(self.command, path, self.headers, body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _serve

        def log_message(self, *args):  # keep test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="fake-onfido", daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}{PREFIX}"
    monkeypatch.setitem(app.config, "ONFIDO_API_URL", fake.url)
    monkeypatch.setitem(app.config, "ONFIDO_API_TOKEN", API_TOKEN)
    monkeypatch.setitem(app.config, "ONFIDO_WEBHOOK_TOKEN", WEBHOOK_TOKEN)
    monkeypatch.setitem(app.config, "KYC_AUTO_APPROVE", False)
    yield fake
    server.shutdown()
    server.server_close()
    thread.join(5)
