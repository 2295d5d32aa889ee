"""Every blueprint, registered in one place."""

from flask import Flask

from tradeapp.extensions import api, csrf


def register_all(app: Flask) -> None:
    from tradeapp.blueprints import api as api_pkg
    from tradeapp.blueprints.deposits import api as deposits_api
    from tradeapp.blueprints.deposits import staff as deposits_staff
    from tradeapp.blueprints.deposits import views as deposits_views
    from tradeapp.blueprints.funds import api as funds_api
    from tradeapp.blueprints.funds import views as funds_views
    from tradeapp.blueprints.kyc import api as kyc_api
    from tradeapp.blueprints.kyc import staff as kyc_staff
    from tradeapp.blueprints.kyc import staff_api as kyc_staff_api
    from tradeapp.blueprints.kyc import views as kyc_views
    from tradeapp.blueprints.kyc import webhooks as kyc_webhooks
    from tradeapp.blueprints.ledger import staff as ledger_staff
    from tradeapp.blueprints.main import views as main_views
    from tradeapp.blueprints.staff import views as staff_views
    from tradeapp.blueprints.trading import api as trading_api
    from tradeapp.blueprints.trading import staff as trading_staff
    from tradeapp.blueprints.trading import staff_orders as trading_staff_orders
    from tradeapp.blueprints.trading import views as trading_views
    from tradeapp.blueprints.users import api as users_api
    from tradeapp.blueprints.users import staff as users_staff
    from tradeapp.blueprints.users import views as users_views
    from tradeapp.blueprints.webhooks import views as webhooks_views
    from tradeapp.blueprints.withdrawals import api as withdrawals_api
    from tradeapp.blueprints.withdrawals import staff as withdrawals_staff
    from tradeapp.blueprints.withdrawals import views as withdrawals_views

    app.register_blueprint(main_views.bp)
    app.register_blueprint(users_views.bp)
    app.register_blueprint(staff_views.bp)
    app.register_blueprint(users_staff.bp)
    app.register_blueprint(api_pkg.bp)
    app.register_blueprint(funds_views.bp)

    app.register_blueprint(deposits_views.bp)
    app.register_blueprint(deposits_staff.bp)
    app.register_blueprint(withdrawals_views.bp)
    app.register_blueprint(withdrawals_staff.bp)
    app.register_blueprint(ledger_staff.bp)
    app.register_blueprint(kyc_views.bp)
    app.register_blueprint(kyc_staff.bp)
    app.register_blueprint(trading_staff.bp)
    app.register_blueprint(trading_views.bp)
    app.register_blueprint(trading_staff_orders.bp)
    csrf.exempt(kyc_webhooks.bp)
    app.register_blueprint(kyc_webhooks.bp)
    ledger_staff.register_nav()
    # Webhooks authenticate by the provider's signature, not cookies: no CSRF.
    csrf.exempt(webhooks_views.bp)
    app.register_blueprint(webhooks_views.bp)

    # JSON API blueprints authenticate with bearer tokens, not cookies: no CSRF.
    for blp in (
        users_api.blp,
        funds_api.blp,
        deposits_api.blp,
        withdrawals_api.blp,
        kyc_api.blp,
        kyc_staff_api.blp,
        trading_api.blp,
        trading_api.orders_blp,
    ):
        csrf.exempt(blp)
        api.register_blueprint(blp)

    staff_views.register_nav(app)
