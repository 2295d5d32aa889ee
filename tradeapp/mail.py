"""Outgoing e-mail: a real SMTP client, or .eml files in an outbox folder in embedded mode."""

import re
import smtplib
import ssl
import uuid
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import formatdate, make_msgid
from pathlib import Path

from flask import current_app, render_template
from markupsafe import escape

from tradeapp.queues import enqueue


def public_url(endpoint: str, **values) -> str:
    """An absolute link for mail, built from the configured BASE_URL.

    Never from the request: its Host / X-Forwarded-Host are the client's to choose, and a reset
    link pointing at an attacker's host would hand them the victim's token.
    """
    adapter = current_app.url_map.bind("base-url.invalid", script_name="/")
    return current_app.config["BASE_URL"].rstrip("/") + adapter.build(endpoint, values)


def build_message(to: str, subject: str, template: str, **context) -> EmailMessage:
    """Render ``mail/<template>.txt`` (and ``.html`` when present) into a message."""
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = current_app.config["MAIL_DEFAULT_SENDER"]
    msg["To"] = to
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="tradeapp.local")
    context.setdefault("site_name", current_app.config["SITE_NAME"])
    preamble = _preamble(to)
    text = render_template(f"mail/{template}.txt", **context)
    msg.set_content(f"{preamble}\n\n{text}" if preamble else text)
    try:
        html = render_template(f"mail/{template}.html", **context)
    except Exception:  # noqa: BLE001 - the HTML part is optional
        html = None
    if html:
        if preamble:
            line = f'<p style="margin:0 0 12px;font-weight:700;">{escape(preamble)}</p>'
            html, found = re.subn(r"(<body[^>]*>)", lambda m: m.group(1) + line, html, count=1)
            if not found:
                html = line + html
        msg.add_alternative(html, subtype="html")
    return msg


#: ``app.extensions`` key of functions (recipient → a line to put first in every e-mail, or "")
PREAMBLES = "tradeapp.mail_preambles"


def _preamble(to: str) -> str:
    """Lines registered by domains for this recipient (the customer's anti-phishing phrase)."""
    lines = [line for hook in current_app.extensions.get(PREAMBLES, ()) if (line := hook(to))]
    return "\n".join(lines)


def deliver(msg: EmailMessage) -> str:
    """Send ``msg`` through the configured backend; returns where it went."""
    cfg = current_app.config
    if cfg["MAIL_BACKEND"] == "outbox":
        outbox = Path(cfg["MAIL_OUTBOX_DIR"])
        outbox.mkdir(parents=True, exist_ok=True)
        path = outbox / f"{uuid.uuid4().hex}.eml"
        path.write_bytes(bytes(msg))
        return str(path)
    host, port = cfg["MAIL_SERVER"], cfg["MAIL_PORT"]
    timeout = cfg["MAIL_TIMEOUT"]
    if cfg["MAIL_USE_SSL"]:
        smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
    else:
        smtp = smtplib.SMTP(host, port, timeout=timeout)
    with smtp:
        if cfg["MAIL_USE_TLS"] and not cfg["MAIL_USE_SSL"]:
            smtp.starttls(context=ssl.create_default_context())
        if cfg["MAIL_USERNAME"]:
            smtp.login(cfg["MAIL_USERNAME"], cfg["MAIL_PASSWORD"])
        smtp.send_message(msg)
    return f"smtp://{host}:{port}"


def send_mail(to: str, subject: str, template: str, **context) -> None:
    """Render now, deliver through the mail queue (in-process in embedded mode)."""
    msg = build_message(to, subject, template, **context)
    enqueue("tradeapp.jobs.mail.send_rendered", bytes(msg).decode("utf-8", "replace"), queue="mail")


def outbox_messages(limit: int = 50) -> list[dict]:
    """The newest messages in the outbox folder (dev page and tests)."""
    outbox = Path(current_app.config["MAIL_OUTBOX_DIR"])
    if not outbox.exists():
        return []
    files = sorted(outbox.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns, reverse=True)[:limit]
    messages = []
    for path in files:
        msg = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        body = msg.get_body(preferencelist=("plain",))
        messages.append(
            {
                "id": path.stem,
                "to": msg["To"],
                "subject": msg["Subject"],
                "date": msg["Date"],
                "text": body.get_content() if body else "",
            }
        )
    return messages
