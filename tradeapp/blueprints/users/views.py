"""Customer account pages: register, verify e-mail, log in/out, reset and change password, profile."""

from flask import Blueprint, current_app, flash, g, redirect, request, session, url_for
from flask_login import current_user, login_user, logout_user
from markupsafe import Markup

from tradeapp.blueprints.referrals import links as referrals
from tradeapp.blueprints.users.forms import (
    ChangePasswordForm,
    CustomerOtpForm,
    ForgotPasswordForm,
    LoginForm,
    ProfileForm,
    RegisterForm,
    ResetPasswordForm,
)
from tradeapp.errors import AccountLocked, AuthenticationFailed, ValidationFailed
from tradeapp.extensions import limiter
from tradeapp.mail import public_url
from tradeapp.models.types import utcnow
from tradeapp.services import users as users_service
from tradeapp.services.account_security import sessions as sessions_service
from tradeapp.services.account_security import twofactor
from tradeapp.web import full_page, login_required, redirect_client, render, safe_next, swap_row

bp = Blueprint("users", __name__)


def _limit(config_key: str):
    """Rate-limit the POSTs of a view by the setting ``config_key`` (read per request)."""
    return limiter.limit(lambda: current_app.config[config_key], methods=["POST"])


def _start_session(user, remember: bool = False) -> None:
    """A fresh session for ``user``: nothing from before login survives (no session fixation).

    The session is recorded (device, IP) so the account page can list and revoke it.
    """
    session.clear()
    g.pop("csrf_token", None)  # flask-wtf caches the token of the old session
    login_user(user, remember=remember)
    session["sid"] = sessions_service.start_web(user, request.headers.get("User-Agent", ""), request.remote_addr or "")


#: how long the second step of a login may take after the password
TWO_FACTOR_STEP_SECONDS = 300


def _one_piece(message: Markup) -> Markup:
    """Wrap a flash message with markup so the alert's flex layout keeps it one line of text."""
    return Markup("<span>{}</span>").format(message)


def _remembered() -> bool:
    return bool(request.cookies.get(current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token")))


# -- registration and e-mail verification --------------------------------------------------------


@bp.route("/auth/register", methods=["GET", "POST"])
@_limit("SIGNUP_RATE_LIMIT")
def register():
    if current_user.is_authenticated:
        return redirect(url_for("main.dashboard"))
    form = RegisterForm()
    ref = request.args.get("ref") or session.get(referrals.SESSION_KEY, "")
    if request.method == "GET" and ref:
        form.referral_code.data = ref.strip()[:10]
    if form.validate_on_submit():
        try:
            user = users_service.register_user(
                email=form.email.data,
                username=form.username.data,
                password=form.password.data,
                password_confirm=form.password_confirm.data,
                first_name=form.first_name.data or "",
                last_name=form.last_name.data or "",
                phone_number=form.phone_number.data or "",
                referral_code=form.referral_code.data or "",
                **referrals.signup_origin(),
            )
        except ValidationFailed as exc:
            form.show_error(exc)
        else:
            _start_session(user)
            message = Markup(
                "Welcome aboard! We sent a confirmation link to <strong>{}</strong>: check your inbox."
            ).format(user.email)
            if current_app.config["EMBEDDED"]:
                message += Markup(
                    ' In this demo mail is not sent: open the <a href="{}">Outbox</a> to find it.'
                ).format(url_for("main.outbox"))
            flash(_one_piece(message), "success")
            return redirect_client(url_for("main.dashboard"))
    return render("users/register.html", "users/_register_form.html", form=form)


@bp.get("/auth/verify/<token>")
def verify_email(token):
    try:
        users_service.verify_email(token)
    except ValidationFailed as exc:
        flash(f"{exc.message} Log in and ask for a new confirmation email.", "error")
    else:
        flash("Thank you: your email address is confirmed.", "success")
    return redirect(url_for("main.dashboard" if current_user.is_authenticated else "users.login"), 303)


@bp.post("/auth/verify/resend")
@login_required
@_limit("RESET_RATE_LIMIT")
def resend_verification():
    if current_user.email_verified:
        flash("Your email address is already confirmed.", "info")
    else:
        users_service.send_verification_email(current_user)
        message = Markup("We sent a new confirmation link to <strong>{}</strong>.").format(current_user.email)
        if current_app.config["EMBEDDED"]:
            message += Markup(' Find it in the <a href="{}">Outbox</a>.').format(url_for("main.outbox"))
        flash(_one_piece(message), "success")
    return redirect_client(url_for("main.dashboard"))


# -- log in and out ---------------------------------------------------------------------------------


@bp.route("/auth/login", methods=["GET", "POST"])
@_limit("LOGIN_RATE_LIMIT")
def login():
    next_url = request.args.get("next")
    if current_user.is_authenticated and request.method == "GET":
        return redirect(safe_next(next_url, url_for("main.dashboard")))
    form = LoginForm()
    status, retry_after = 200, 0
    if form.validate_on_submit():
        try:
            user = users_service.authenticate(form.email.data, form.password.data)
        except AccountLocked as exc:
            form.form_errors.append(exc.message)
            status = 429
            retry_after = exc.retry_after
        except AuthenticationFailed as exc:
            form.form_errors.append(exc.message)
        else:
            if not user.is_staff and twofactor.two_factor_enabled(user):
                # The password alone signs nobody in: the code comes next, then the session starts.
                session.clear()
                g.pop("csrf_token", None)
                session["2fa_pending"] = {
                    "uid": user.id,
                    "stamp": user.password_stamp,
                    "remember": bool(form.remember_me.data),
                    "at": int(utcnow().timestamp()),
                }
                return redirect_client(url_for("users.login_two_factor", next=safe_next(next_url, "") or None))
            _start_session(user, remember=form.remember_me.data)
            if user.is_staff:
                # A password alone never opens the staff console: the second factor comes next.
                session["staff_2fa_ok"] = False
                return redirect_client(
                    url_for("staff.two_factor", next=safe_next(next_url, url_for("staff.dashboard")))
                )
            return redirect_client(safe_next(next_url, url_for("main.dashboard")))
    response = render("users/login.html", "users/_login_form.html", form=form, next_url=next_url)
    response.status_code = status
    if status == 429:
        response.headers["Retry-After"] = str(retry_after)
    return response


@bp.route("/auth/2fa", methods=["GET", "POST"])
@_limit("LOGIN_RATE_LIMIT")
def login_two_factor():
    """The second step of a customer login with two-factor on: a current code or a recovery code."""
    pending = session.get("2fa_pending") or {}
    user = users_service.pending_two_factor_user(pending, TWO_FACTOR_STEP_SECONDS)
    next_url = request.args.get("next")
    if user is None:
        session.pop("2fa_pending", None)
        flash("Log in again: the sign-in took too long or was not started.", "info")
        return redirect_client(url_for("users.login", next=next_url or None))
    form = CustomerOtpForm()
    status, retry_after = 200, 0
    if form.validate_on_submit():
        try:
            how = twofactor.verify(user, form.otp.data)
        except AccountLocked as exc:
            form.form_errors.append(exc.message)
            status, retry_after = 429, exc.retry_after
        except ValidationFailed as exc:
            form.show_errors(exc.fields, exc.message)
            status = 422
        else:
            _start_session(user, remember=pending.get("remember", False))
            if how == "recovery":
                flash("You used a recovery code: each works once. Make new ones on your security page.", "warning")
            return redirect_client(safe_next(next_url, url_for("main.dashboard")))
    response = render("users/two_factor.html", "users/_two_factor_form.html", form=form, next_url=next_url)
    response.status_code = status
    if status == 429:
        response.headers["Retry-After"] = str(retry_after)
    return response


@bp.post("/auth/logout")
def logout():
    sessions_service.end(session.get("sid"))
    logout_user()
    session.clear()
    g.pop("csrf_token", None)  # flask-wtf caches the token of the old session
    flash("You have been logged out.", "info")
    return redirect_client(url_for("main.home"))


# -- forgotten password -------------------------------------------------------------------------------


@bp.route("/auth/password/forgot", methods=["GET", "POST"])
@_limit("RESET_RATE_LIMIT")
def forgot_password():
    form = ForgotPasswordForm()
    sent_to = None
    if form.validate_on_submit():
        # The same answer whether or not the address has an account: no enumeration.
        users_service.request_password_reset(form.email.data)
        sent_to = form.email.data
    return render("users/forgot_password.html", "users/_forgot_form.html", form=form, sent_to=sent_to)


@bp.route("/auth/password/reset/<token>", methods=["GET", "POST"])
@_limit("RESET_RATE_LIMIT")
def reset_password(token):
    try:
        users_service.check_reset_token(token)
    except ValidationFailed as exc:
        return full_page(
            "users/reset_invalid.html",
            url=url_for("users.reset_password", token=token),
            status_code=400,
            reason=exc.code,
            message=exc.message,
        )
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            users_service.reset_password(token, form.password.data, form.password_confirm.data)
        except ValidationFailed as exc:
            form.show_error(exc)
        else:
            # Every session embeds the old password's stamp, so all of them end here; this one too.
            logout_user()
            session.clear()
            g.pop("csrf_token", None)  # flask-wtf caches the token of the old session
            flash("Your password has been reset. Log in with your new password.", "success")
            return redirect_client(url_for("users.login"))
    return render("users/reset_password.html", "users/_reset_form.html", form=form, token=token)


# -- account --------------------------------------------------------------------------------------------


@bp.route("/account/", methods=["GET", "POST"])
@login_required
def profile():
    user = current_user._get_current_object()
    form = ProfileForm(obj=user)
    saved = None
    if form.validate_on_submit():
        changes = {
            name: form[name].data or "" for name in ("username", "first_name", "last_name", "phone_number", "email")
        }
        old_email = user.email
        try:
            users_service.update_profile(user, changes)
        except ValidationFailed as exc:
            form.show_error(exc)
        else:
            saved = "Your profile was saved."
            if user.email != old_email:
                saved += f" We sent a confirmation link to {user.email}: confirm the new address to verify it again."
            return swap_row(
                "users/_profile.html",
                redirect_to=url_for("users.profile"),
                notice=saved,
                **_profile_context(user, ProfileForm(formdata=None, obj=user), saved=saved),
            )
    return render("users/profile.html", "users/_profile.html", **_profile_context(user, form))


def _profile_context(user, form: ProfileForm, **extra) -> dict:
    return {
        "form": form,
        "user": user,
        "saved": None,
        "referral_link": public_url("users.register", ref=user.referral_code),
        **extra,
    }


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        try:
            users_service.change_password(
                user,
                form.current_password.data,
                form.new_password.data,
                form.new_password_confirm.data,
                keep_session=session.get("sid"),
            )
        except ValidationFailed as exc:
            form.show_error(exc)
        else:
            # Other sessions held the old password's stamp and are now over; renew this one.
            login_user(user, remember=_remembered())
            flash("Your password was changed. Other devices have been logged out.", "success")
            return redirect_client(url_for("users.profile"))
    return render("users/change_password.html", "users/_password_form.html", form=form)
