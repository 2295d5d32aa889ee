"""Customer security pages: two-factor, settings, sessions, the withdrawal address book, and the
e-mailed links (confirm a withdrawal, revoke an address, "this sign-in was not me")."""

from flask import Blueprint, abort, flash, g, redirect, request, session, url_for
from flask_login import current_user, logout_user

from tradeapp.errors import AccountLocked, DomainError, IllegalTransition, NotFound, PermissionDenied, ValidationFailed
from tradeapp.extensions import db
from tradeapp.forms import BaseForm
from tradeapp.models import User
from tradeapp.services import withdrawals
from tradeapp.services.account_security import addresses, confirmations, sessions, settings, twofactor
from tradeapp.web import login_required, redirect_client, render, swap_row

bp = Blueprint("account_security", __name__)

from .forms import AddressForm, CodeForm, SettingsForm  # noqa: E402


def _sid() -> str | None:
    return session.get("sid")


# -- the security page ----------------------------------------------------------------------------------


def _two_factor_context(user: User, **extra) -> dict:
    enabled = twofactor.two_factor_enabled(user)
    context = {
        "user": user,
        "enabled": enabled,
        "enrolling": not user.is_staff and bool(user.totp_secret) and not enabled,
        "staff": user.is_staff,
        "codes_left": twofactor.recovery_codes_left(user) if enabled else 0,
        "code_form": CodeForm(formdata=None),
        "codes": None,
        "qr_svg": None,
    }
    if context["enrolling"]:
        context["qr_svg"] = twofactor.qr_svg(user)
    context.update(extra)
    return context


def _settings_context(user: User, form: SettingsForm | None = None, **extra) -> dict:
    current = settings.of(user.id)
    if form is None:
        form = SettingsForm(
            formdata=None,
            withdrawal_confirmation=current.withdrawal_confirmation,
            whitelist_only=current.whitelist_only,
            anti_phishing_phrase=current.anti_phishing_phrase,
        )
    return {"settings_form": form, "current": current, "enabled": twofactor.two_factor_enabled(user), **extra}


def _sessions_context(user: User, **extra) -> dict:
    return {"sessions": sessions.active(user), "current_sid": _sid(), "describe": sessions.describe, **extra}


@bp.get("/account/security")
@login_required
def security_page():
    user = current_user._get_current_object()
    context = {**_two_factor_context(user), **_settings_context(user), **_sessions_context(user)}
    return render(
        "account_security/page.html",
        address_count=len(db.session.scalars(addresses.for_user(user)).all()),
        **context,
    )


def _two_factor_answer(notice=None, error=None, **extra):
    user = current_user._get_current_object()
    return swap_row(
        "account_security/_two_factor.html",
        redirect_to=url_for("account_security.security_page"),
        notice=notice,
        error=error,
        **_two_factor_context(user, **extra),
    )


@bp.post("/account/security/2fa/start")
@login_required
def two_factor_start():
    if not BaseForm().validate_on_submit():
        abort(400)
    try:
        twofactor.start_enrolment(current_user._get_current_object())
    except (ValidationFailed, PermissionDenied) as exc:
        return _two_factor_answer(error=exc.message)
    return _two_factor_answer(notice="Scan the QR code, then enter the code your app shows.")


def _with_code(action, success: str, *, codes_result: bool = False):
    form = CodeForm()
    if not form.validate_on_submit():
        return _two_factor_answer(error="Enter the code from your authenticator app.")
    try:
        result = action(form.otp.data)
    except AccountLocked as exc:
        return _two_factor_answer(error=exc.message)
    except (ValidationFailed, PermissionDenied) as exc:
        db.session.rollback()
        return _two_factor_answer(error=exc.message)
    db.session.expire_all()
    return _two_factor_answer(notice=success, codes=result if codes_result else None)


@bp.post("/account/security/2fa/confirm")
@login_required
def two_factor_confirm():
    user = current_user._get_current_object()
    return _with_code(
        lambda code: twofactor.confirm_enrolment(user, code, keep_session=_sid()),
        "Two-factor authentication is on. Save your recovery codes now: they are shown only once.",
        codes_result=True,
    )


@bp.post("/account/security/2fa/disable")
@login_required
def two_factor_disable():
    user = current_user._get_current_object()
    return _with_code(
        lambda code: twofactor.disable(user, code, keep_session=_sid()),
        "Two-factor authentication is off. Other devices were signed out.",
    )


@bp.post("/account/security/2fa/recovery-codes")
@login_required
def two_factor_new_codes():
    user = current_user._get_current_object()
    return _with_code(
        lambda code: twofactor.regenerate_codes(user, code),
        "New recovery codes: the old ones no longer work. Save these now.",
        codes_result=True,
    )


@bp.post("/account/security/settings")
@login_required
def settings_save():
    user = current_user._get_current_object()
    form = SettingsForm()
    error = None
    if not form.validate_on_submit():
        error = "Please correct the errors below."
    else:
        changes = {
            "withdrawal_confirmation": form.withdrawal_confirmation.data,
            "whitelist_only": form.whitelist_only.data,
            "anti_phishing_phrase": form.anti_phishing_phrase.data or "",
        }
        try:
            if twofactor.two_factor_enabled(user) and _differs(user, changes):
                twofactor.verify(user, form.otp.data)
            settings.update(user, changes, fresh_code_checked=True)
        except AccountLocked as exc:
            error = exc.message
        except ValidationFailed as exc:
            db.session.rollback()
            form.show_errors(exc.fields, exc.message)
            error = exc.message
    if error is None:
        return swap_row(
            "account_security/_settings.html",
            redirect_to=url_for("account_security.security_page"),
            notice="Your security settings were saved.",
            **_settings_context(user),
        )
    return swap_row(
        "account_security/_settings.html",
        redirect_to=url_for("account_security.security_page"),
        error=error,
        **_settings_context(user, form),
    )


def _differs(user: User, changes: dict) -> bool:
    current = settings.of(user.id)
    return any(getattr(current, k) != v for k, v in changes.items())


@bp.post("/account/security/sessions/<int:session_id>/revoke")
@login_required
def session_revoke(session_id: int):
    if not BaseForm().validate_on_submit():
        abort(400)
    user = current_user._get_current_object()
    try:
        row = sessions.revoke(user, session_id)
    except NotFound:
        abort(404)
    if row.sid == _sid():
        logout_user()
        session.clear()
        g.pop("csrf_token", None)
        flash("You signed this device out.", "info")
        return redirect_client(url_for("users.login"))
    return swap_row(
        "account_security/_sessions.html",
        redirect_to=url_for("account_security.security_page"),
        notice="That device was signed out.",
        **_sessions_context(user),
    )


@bp.post("/account/security/sessions/revoke-all")
@login_required
def sessions_revoke_all():
    if not BaseForm().validate_on_submit():
        abort(400)
    user = current_user._get_current_object()
    ended = sessions.revoke_all(user, _sid())
    return swap_row(
        "account_security/_sessions.html",
        redirect_to=url_for("account_security.security_page"),
        notice=f"Signed out {ended} other device{'s' if ended != 1 else ''}.",
        **_sessions_context(user),
    )


# -- the address book ------------------------------------------------------------------------------------


def _address_form(formdata=True) -> AddressForm:
    form = AddressForm() if formdata else AddressForm(formdata=None)
    form.currency.choices = [(c, c) for c in withdrawals.RULES]
    form.network.choices = [
        (n, n.capitalize()) for n in sorted({n for ns in withdrawals.NETWORKS.values() for n in ns})
    ]
    return form


def _addresses_context(form: AddressForm, **extra) -> dict:
    user = current_user._get_current_object()
    return {
        "form": form,
        "items": db.session.scalars(addresses.for_user(user, include_revoked=True).limit(100)).all(),
        "describe": addresses.describe,
        "enabled": twofactor.two_factor_enabled(user),
        "hours": f"{addresses.cooling_off().total_seconds() / 3600:g}",
        "whitelist_only": settings.of(user.id).whitelist_only,
        **extra,
    }


@bp.route("/account/withdrawal-addresses", methods=["GET", "POST"])
@login_required
def addresses_page():
    form = _address_form()
    if request.method == "POST":
        error = None
        if not form.validate_on_submit():
            error = "Please correct the errors below."
        else:
            data = {
                "label": form.label.data,
                "currency": form.currency.data,
                "destination_type": form.destination_type.data,
                "destination_details": form.destination_details(),
            }
            try:
                row = addresses.add(current_user._get_current_object(), data, form.otp.data or None)
            except AccountLocked as exc:
                error = exc.message
            except DomainError as exc:
                db.session.rollback()
                form.show_error(exc)
                error = exc.message
            else:
                return swap_row(
                    "account_security/_addresses.html",
                    redirect_to=url_for("account_security.addresses_page"),
                    notice=f"“{row.label}” was added; it can be used once the cooling-off period ends.",
                    **_addresses_context(_address_form(False)),
                )
        return swap_row(
            "account_security/_addresses.html",
            redirect_to=url_for("account_security.addresses_page"),
            page="account_security/addresses.html",
            error=error,
            **_addresses_context(form),
        )
    return render("account_security/addresses.html", "account_security/_addresses.html", **_addresses_context(form))


@bp.post("/account/withdrawal-addresses/<int:address_id>/revoke")
@login_required
def address_revoke(address_id: int):
    if not BaseForm().validate_on_submit():
        abort(400)
    try:
        row = addresses.revoke(current_user._get_current_object(), address_id)
    except NotFound:
        abort(404)
    return swap_row(
        "account_security/_addresses.html",
        redirect_to=url_for("account_security.addresses_page"),
        notice=f"“{row.label}” was removed from your address book.",
        **_addresses_context(_address_form(False)),
    )


# -- links from e-mails (they work without signing in) ----------------------------------------------------


def _link_page(title: str, message: str, *, action: str | None = None, button: str = "", status: int = 200, **extra):
    return render(
        "account_security/link.html",
        status_code=status,
        title=title,
        message=message,
        action=action,
        button=button,
        form=BaseForm(formdata=None),
        **extra,
    )


@bp.route("/account/withdrawal-addresses/revoke/<token>", methods=["GET", "POST"])
def address_revoke_link(token: str):
    try:
        row = addresses.revoke_target(token)
    except ValidationFailed as exc:
        return _link_page("Revoke a withdrawal address", exc.message, status=400)
    if request.method == "POST":
        if not BaseForm().validate_on_submit():
            abort(400)
        addresses.revoke_by_link(token)
        return _link_page(
            "Address revoked",
            f"“{row.label}” can no longer receive withdrawals. If you did not add it, change your password now.",
        )
    if row.revoked_at is not None:
        return _link_page("Address revoked", f"“{row.label}” was already revoked.")
    return _link_page(
        "Revoke a withdrawal address",
        f"Remove “{row.label}” ({addresses.describe(row)}) from the address book?",
        action=request.path,
        button="Revoke this address",
    )


@bp.route("/withdrawals/confirm/<token>", methods=["GET", "POST"])
def withdrawal_confirm(token: str):
    """The e-mailed confirmation: a page with a button (mail scanners that open links confirm nothing)."""
    try:
        row = confirmations.find(token)
    except ValidationFailed as exc:
        return _link_page("Confirm a withdrawal", exc.message, status=400)
    w = row.withdrawal
    summary = f"{w.amount:,.{2 if w.currency in ('USD', 'EUR', 'GBP') else 8}f} {w.currency}"
    if request.method == "POST":
        if not BaseForm().validate_on_submit():
            abort(400)
        try:
            confirmations.confirm(token)
        except (ValidationFailed, IllegalTransition) as exc:
            return _link_page("Confirm a withdrawal", exc.message, status=409)
        return _link_page(
            "Withdrawal confirmed",
            f"Your withdrawal of {summary} is confirmed and now waits for our approval.",
            link=url_for("withdrawals.withdrawals_page"),
        )
    if row.confirmed_at is not None:
        return _link_page("Withdrawal confirmed", f"Your withdrawal of {summary} was already confirmed.")
    return _link_page(
        "Confirm a withdrawal",
        f"Send {summary} (reference {w.transaction.reference_id}) out of your account?",
        action=request.path,
        button="Confirm the withdrawal",
    )


@bp.route("/account/security/disown/<token>", methods=["GET", "POST"])
def disown(token: str):
    """The login alert's "this was not me": every device signed out, a new password required."""
    try:
        user, row = sessions.disown_target(token)
    except ValidationFailed as exc:
        return _link_page("Secure your account", exc.message, status=400)
    if request.method == "POST":
        if not BaseForm().validate_on_submit():
            abort(400)
        sessions.disown(token, request.remote_addr or "")
        if current_user.is_authenticated and current_user.id == user.id:
            logout_user()
            session.clear()
        return _link_page(
            "Every device was signed out",
            "Your password no longer works: we e-mailed you a link to choose a new one.",
        )
    return _link_page(
        "Was this not you?",
        f"A sign-in from {sessions.describe(row.user_agent)} at {row.ip or 'an unknown address'}. "
        "Secure the account: every device is signed out and you choose a new password.",
        action=request.path,
        button="Sign out everywhere and reset my password",
    )


# -- every request with a web session ---------------------------------------------------------------------


SKIP_PREFIXES = ("/static/", "/api/", "/socket.io", "/webhooks/")


def check_session():
    """A revoked web session ends at its next request; a remembered login gets a session row."""
    if request.path.startswith(SKIP_PREFIXES) or not current_user.is_authenticated:
        return None
    sid = session.get("sid")
    if sid is None:
        session["sid"] = sessions.start_web(
            current_user._get_current_object(), request.headers.get("User-Agent", ""), request.remote_addr or ""
        )
        return None
    if not sessions.touch(sid):
        logout_user()
        session.clear()
        g.pop("csrf_token", None)
        flash("This device was signed out of your account.", "info")
        return redirect(url_for("users.login"), 302)
    return None
