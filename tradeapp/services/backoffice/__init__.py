"""The broker's back office: money histories, the money-first dashboard, user 360, account freezes, reports.

Read-side modules (``aggregates``, ``history``, ``dashboard``, ``user360``, ``reports``) aggregate in SQL;
``accounts`` holds the staff actions on an account (freeze, force password reset, revoke sessions, notes),
each one unit of work, permission-checked and audited with a reason.
"""
