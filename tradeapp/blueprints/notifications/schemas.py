"""Marshmallow schemas of the notifications API: shapes only; the service checks the rules."""

import marshmallow as ma
from marshmallow import fields, validate

from tradeapp.blueprints.api import PageArgsSchema


class NotificationSchema(ma.Schema):
    """One notification, as the bell and the page show it."""

    id = fields.Integer(dump_only=True)
    kind = fields.String(dump_only=True, metadata={"description": "The registered kind, e.g. `deposit_credited`."})
    title = fields.String(dump_only=True)
    body = fields.String(dump_only=True)
    link = fields.String(dump_only=True, allow_none=True, metadata={"description": "A path on this site, or null."})
    data = fields.Dict(dump_only=True, allow_none=True, metadata={"description": "The event's ids, per kind."})
    read = fields.Boolean(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    read_at = fields.DateTime(dump_only=True, allow_none=True)


class NotificationArgsSchema(PageArgsSchema):
    """``?unread=true`` for the unread ones only; ``?kind=`` for one kind."""

    unread = fields.Boolean(load_default=None, allow_none=True)
    kind = fields.String(load_default=None, validate=validate.Length(max=40))


class ReadAllSchema(ma.Schema):
    updated = fields.Integer(required=True, metadata={"description": "How many notifications were marked read."})
    unread = fields.Integer(required=True, metadata={"description": "Unread notifications left (0)."})


class PreferenceSchema(ma.Schema):
    """One kind's channels: in-app is always on; live and e-mail per kind."""

    kind = fields.String(required=True, validate=validate.Length(min=1, max=40))
    label = fields.String(dump_only=True)
    in_app = fields.Boolean(dump_only=True, metadata={"description": "Always true: every notification is kept."})
    live = fields.Boolean(load_default=None, allow_none=True, metadata={"description": "Pushed to open pages."})
    email = fields.Boolean(load_default=None, allow_none=True, metadata={"description": "Sent by e-mail."})
    email_required = fields.Boolean(
        dump_only=True, metadata={"description": "Account security: the e-mail cannot be switched off."}
    )

    class Meta:
        unknown = ma.EXCLUDE


class PreferencesSchema(ma.Schema):
    preferences = fields.List(fields.Nested(PreferenceSchema), required=True, validate=validate.Length(max=200))

    class Meta:
        unknown = ma.EXCLUDE
