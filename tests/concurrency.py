"""Running the same money operation from many threads at once (PostgreSQL row-lock races)."""

import threading


def race(app, n: int, work, refused: tuple[type[BaseException], ...] = (), timeout: float = 60) -> list[str]:
    """Run ``work(i)`` in ``n`` threads released together; one result per thread.

    Each thread has its own app context (so its own session and connection). A result is
    ``"ok"``, ``"insufficient"`` for an exception in ``refused`` (the outcome a race should
    produce for the losers), or the ``repr`` of anything else, which the caller's assertion shows.
    """
    from flask import has_app_context

    from tradeapp.extensions import db

    if has_app_context():
        # End the caller's own transaction first: on SQLite even a read holds the one write lock
        # (every transaction begins IMMEDIATE), which would make every thread time out.
        db.session.rollback()
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def runner(i: int) -> None:
        with app.app_context():
            try:
                barrier.wait(30)  # before touching the pool, so no thread holds a connection waiting
                work(i)
                results[i] = "ok"
            except refused:
                db.session.rollback()
                results[i] = "insufficient"
            except Exception as exc:  # noqa: BLE001 - reported by the caller's assertion
                db.session.rollback()
                results[i] = repr(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    return results
