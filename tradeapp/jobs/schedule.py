"""The one list of periodic jobs, loaded by ``rq cron tradeapp.jobs.schedule`` (run exactly one).

``rq cron`` enqueues each entry on its queue when due; ``rq worker`` runs it. Entries take
``rq.cron.register`` arguments: a job function, ``queue_name`` and ``interval`` (seconds)
or ``cron`` (a crontab line, UTC).
"""

from rq.cron import register

from tradeapp.jobs import backoffice, kyc, ledger, maintenance, recovery

SCHEDULE: list[dict] = [
    # every two minutes: re-enqueue jobs a killed worker abandoned and payouts stuck mid-way
    {"func": recovery.recover_stuck_work, "queue_name": "maintenance", "interval": 120, "job_timeout": 300},
    # hourly, a few minutes past the hour
    {"func": maintenance.purge_expired_tokens, "queue_name": "maintenance", "cron": "7 * * * *", "job_timeout": 600},
    {"func": maintenance.purge_login_throttles, "queue_name": "maintenance", "cron": "9 * * * *", "job_timeout": 600},
    {
        "func": maintenance.purge_idempotency_records,
        "queue_name": "maintenance",
        "cron": "11 * * * *",
        "job_timeout": 600,
    },
    # nightly reconciliation of the ledger; drift is audited and e-mailed to finance
    {"func": ledger.reconcile_ledger, "queue_name": "maintenance", "cron": "30 2 * * *", "job_timeout": 3600},
    # nightly, after midnight UTC: keep yesterday's financial report as it stands (past days never change)
    {"func": backoffice.store_daily_report, "queue_name": "maintenance", "cron": "15 0 * * *", "job_timeout": 3600},
    # daily: approved identity verifications past KYC_VALIDITY_DAYS expire
    {"func": kyc.expire_kyc_approvals, "queue_name": "maintenance", "cron": "0 2 * * *", "job_timeout": 1800},
]

for entry in SCHEDULE:
    register(**entry)
