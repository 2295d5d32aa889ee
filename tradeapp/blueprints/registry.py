"""Every blueprint, registered in one place."""

from flask import Flask

from tradeapp.extensions import api, csrf


def register_all(app: Flask) -> None:
    from tradeapp.blueprints import api as api_pkg
    from tradeapp.blueprints.main import views as main_views
    from tradeapp.blueprints.staff import views as staff_views
    from tradeapp.blueprints.users import api as users_api
    from tradeapp.blueprints.users import staff as users_staff
    from tradeapp.blueprints.users import views as users_views

    app.register_blueprint(main_views.bp)
    app.register_blueprint(users_views.bp)
    app.register_blueprint(staff_views.bp)
    app.register_blueprint(users_staff.bp)
    app.register_blueprint(api_pkg.bp)

    # JSON API blueprints authenticate with bearer tokens, not cookies: no CSRF.
    for blp in (users_api.blp,):
        csrf.exempt(blp)
        api.register_blueprint(blp)

    staff_views.register_nav(app)
