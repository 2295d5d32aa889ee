"""Notifications API: the user's notifications (list, detail, mark read) and their channel preferences."""

from flask import abort
from flask.views import MethodView

from tradeapp.blueprints.api import (
    ApiBlueprint,
    api_user,
    id_parameter,
    page_schema,
    paginate,
    token_required,
)
from tradeapp.models.notifications import Notification
from tradeapp.services import notifications

from .schemas import NotificationArgsSchema, NotificationSchema, PreferencesSchema, ReadAllSchema

blp = ApiBlueprint("notifications_api", __name__, url_prefix="/api/v1/notifications", description="Notifications")
prefs_blp = ApiBlueprint(
    "notification_preferences_api",
    __name__,
    url_prefix="/api/v1/notification-preferences",
    description="Notification preferences",
)

NOTE_ID = id_parameter("notification_id", "The notification's id.")


def _own_or_404(notification_id: int) -> Notification:
    note = notifications.get_for_user(api_user().id, notification_id)
    if note is None:
        abort(404)
    return note


@blp.route("/", methods=["GET"])
@token_required()
@blp.arguments(NotificationArgsSchema, location="query")
@blp.response(200, page_schema(NotificationSchema))
def notifications_listing(args):
    """Your notifications, newest first; `?unread=true` for the unread ones, `?kind=` for one kind."""
    return paginate(notifications.for_user(api_user().id, unread=args["unread"], kind_name=args["kind"]))


@blp.route("/<int:notification_id>/", methods=["GET"])
@token_required()
@blp.doc(parameters=[NOTE_ID])
@blp.response(200, NotificationSchema)
@blp.alt_response(404, description="No such notification of yours")
def notification_detail(notification_id):
    """One of your notifications."""
    return _own_or_404(notification_id)


@blp.route("/<int:notification_id>/read/", methods=["POST"])
@token_required()
@blp.doc(parameters=[NOTE_ID])
@blp.response(200, NotificationSchema)
@blp.alt_response(404, description="No such notification of yours")
def notification_read(notification_id):
    """Mark one of your notifications read (again is harmless); the bell's count follows live."""
    note = notifications.mark_read(api_user().id, notification_id)
    if note is None:
        abort(404)
    return note


@blp.route("/read-all/", methods=["POST"])
@token_required()
@blp.response(200, ReadAllSchema)
def notifications_read_all():
    """Mark every unread notification of yours read."""
    user_id = api_user().id
    updated = notifications.mark_all_read(user_id)
    return {"updated": updated, "unread": notifications.unread_count(user_id)}


@prefs_blp.route("/")
class Preferences(MethodView):
    @token_required()
    @prefs_blp.response(200, PreferencesSchema)
    def get(self):
        """Every kind of notification with your channels: in-app always; live and e-mail as you chose."""
        return {"preferences": notifications.preferences(api_user().id)}

    @token_required()
    @prefs_blp.arguments(PreferencesSchema)
    @prefs_blp.response(200, PreferencesSchema)
    @prefs_blp.alt_response(400, description="Unknown kind or invalid value (`validation_error`)")
    def patch(self, data):
        """Change the channels of the kinds you send (`live`, `email`; an omitted or null channel stays).

        The e-mail of account-security kinds cannot be switched off (`email_required`).
        """
        changes = {p["kind"]: {"live": p.get("live"), "email": p.get("email")} for p in data["preferences"]}
        return {"preferences": notifications.set_preferences(api_user().id, changes)}
