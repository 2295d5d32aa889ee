"""Mail through a real SMTP conversation with a local aiosmtpd server."""

import socket
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller

from tradeapp.jobs.mail import send_rendered
from tradeapp.mail import deliver, outbox_messages


class Inbox:
    """aiosmtpd handler that keeps what it receives."""

    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def smtp_server():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield controller, inbox
    controller.stop()


@pytest.fixture()
def smtp_app(app, db, smtp_server, monkeypatch):
    controller, _ = smtp_server
    monkeypatch.setitem(app.config, "MAIL_BACKEND", "smtp")
    monkeypatch.setitem(app.config, "MAIL_SERVER", "127.0.0.1")
    monkeypatch.setitem(app.config, "MAIL_PORT", controller.port)
    return app


def _message(to="bob@example.com") -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = "Your withdrawal was approved"
    msg["From"] = "tradeapp <no-reply@tradeapp.local>"
    msg["To"] = to
    msg["Message-ID"] = "<test-1@tradeapp.local>"
    msg.set_content("Hello Bob,\n\n0.5 BTC is on its way.\n")
    msg.add_alternative("<p>Hello Bob,</p><p>0.5 BTC is on its way.</p>", subtype="html")
    return msg


def test_deliver_speaks_smtp_to_the_configured_server(smtp_app, smtp_server):
    controller, inbox = smtp_server

    where = deliver(_message())

    assert where == f"smtp://127.0.0.1:{controller.port}"
    [envelope] = inbox.envelopes
    assert envelope.mail_from == "no-reply@tradeapp.local"
    assert envelope.rcpt_tos == ["bob@example.com"]
    received = message_from_bytes(envelope.content, policy=policy.default)
    assert received["Subject"] == "Your withdrawal was approved"
    assert "0.5 BTC is on its way." in received.get_body(preferencelist=("plain",)).get_content()
    assert received.get_body(preferencelist=("html",)) is not None
    assert outbox_messages() == []  # nothing went to the dev outbox


def test_the_mail_job_delivers_a_rendered_message(smtp_app, smtp_server):
    _, inbox = smtp_server

    send_rendered(bytes(_message("carol@example.com")).decode())

    assert [e.rcpt_tos for e in inbox.envelopes] == [["carol@example.com"]]


def test_an_unreachable_server_raises_so_the_job_is_retried(app, db, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_BACKEND", "smtp")
    monkeypatch.setitem(app.config, "MAIL_SERVER", "127.0.0.1")
    monkeypatch.setitem(app.config, "MAIL_PORT", _free_port())
    monkeypatch.setitem(app.config, "MAIL_TIMEOUT", 2)
    with pytest.raises(OSError):
        deliver(_message())
