"""The one list of periodic jobs, loaded by ``rq cron tradeapp.jobs.schedule`` (run exactly one).

``rq cron`` enqueues each entry on its queue when due; ``rq worker`` runs it. Entries take
``rq.cron.register`` arguments: a job function, ``queue_name`` and ``interval`` (seconds)
or ``cron`` (a crontab line, UTC).
"""

from rq.cron import register

from tradeapp.jobs import (
    account_security,
    backoffice,
    bots,
    copy_trading,
    kyc,
    ledger,
    loans,
    maintenance,
    recovery,
    referrals,
    signals,
)

SCHEDULE: list[dict] = [
    # every minute: evaluate the bots of each timeframe whose bar just closed
    {"func": bots.schedule_bar_closes, "queue_name": "bots", "cron": "* * * * *", "job_timeout": 60},
    # every two minutes: re-enqueue jobs a killed worker abandoned and payouts stuck mid-way
    {"func": recovery.recover_stuck_work, "queue_name": "maintenance", "interval": 120, "job_timeout": 300},
    # every minute: withdrawals nobody confirmed by e-mail in time are cancelled, their holds released
    {
        "func": account_security.expire_unconfirmed_withdrawals,
        "queue_name": "maintenance",
        "interval": 60,
        "job_timeout": 300,
    },
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
    # signals: outcomes from prices every minute; renewals (due within the hour) and expiry every five
    {"func": signals.signal_lifecycle, "queue_name": "signals", "interval": 60, "job_timeout": 300},
    {"func": signals.renew_signal_subscriptions, "queue_name": "signals", "interval": 300, "job_timeout": 600},
    {"func": signals.expire_signal_subscriptions, "queue_name": "signals", "interval": 60, "job_timeout": 300},
    # copy trading: lost copy jobs, portfolio stops, lead-trader stats, the daily profit share
    {"func": copy_trading.sweep_signals, "queue_name": "orders", "interval": 60, "job_timeout": 600},
    {"func": copy_trading.check_portfolio_stops, "queue_name": "orders", "interval": 60, "job_timeout": 600},
    {"func": copy_trading.refresh_trader_stats, "queue_name": "default", "interval": 900, "job_timeout": 1800},
    {"func": copy_trading.settle_profit_shares, "queue_name": "default", "cron": "15 0 * * *", "job_timeout": 3600},
    # daily, after midnight UTC: loan interest through yesterday, then overdue flags and overdue liquidations
    {"func": loans.accrue_interest, "queue_name": "maintenance", "cron": "5 0 * * *", "job_timeout": 3600},
    {"func": loans.flag_overdue, "queue_name": "maintenance", "cron": "20 0 * * *", "job_timeout": 1800},
    {"func": loans.liquidate_overdue, "queue_name": "maintenance", "cron": "30 0 * * *", "job_timeout": 1800},
    # referrals: yesterday's commission accruals become rewards daily; cleared rewards are paid every 6 hours
    {
        "func": referrals.sum_referral_commissions,
        "queue_name": "payouts",
        "cron": referrals.SUM_COMMISSIONS_CRON,
        "job_timeout": 1800,
    },
    {
        "func": referrals.pay_referral_rewards,
        "queue_name": "payouts",
        "cron": referrals.PAY_REWARDS_CRON,
        "job_timeout": 1800,
    },
]

for entry in SCHEDULE:
    register(**entry)
