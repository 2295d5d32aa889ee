"""Fault injection through observable seams: a database commit that fails once."""

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session


class InjectedFailure(Exception):
    """The database refused the commit (a serialization failure, a lost connection…)."""


@pytest.fixture()
def failing_commit():
    """``failing_commit()`` arms a failure of the next commit of any session, once.

    It fires after the operation flushed its writes (``before_commit``), which is where a real
    serialization failure or lost connection would surface. What the operation must then do is
    roll back, so that nothing it wrote rides along with the next commit of the same session.
    """
    armed = {"on": False}

    def boom(session):
        if armed["on"]:
            armed["on"] = False
            raise InjectedFailure()

    event.listen(Session, "before_commit", boom)
    yield lambda: armed.update(on=True)
    event.remove(Session, "before_commit", boom)
