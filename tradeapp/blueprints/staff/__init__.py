"""Staff console: dashboard, two-factor, roles, audit log and the sidebar the domains register into."""

from flask import Flask

from tradeapp import domains

from . import views


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
    views.register_template_helpers(app)
    domains.add_nav(app, "Administration", "Roles", "staff.roles_listing", "roles.manage", prefix="staff.roles")
    domains.add_nav(app, "Administration", "Audit log", "staff.audit_listing", "audit.view", prefix="staff.audit")
