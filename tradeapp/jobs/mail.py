"""Mail delivery job."""

import logging
from email import policy
from email.parser import Parser

from tradeapp.jobs import job
from tradeapp.mail import deliver

log = logging.getLogger(__name__)


@job
def send_rendered(raw_message: str) -> str:
    """Deliver an already-rendered message (retried by RQ on SMTP failure)."""
    msg = Parser(policy=policy.default).parsestr(raw_message)
    where = deliver(msg)
    log.info("mail %s delivered via %s", msg["Message-ID"], where.split("/")[0])
    return where
