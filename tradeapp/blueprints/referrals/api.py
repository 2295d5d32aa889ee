"""The referrals API (seed 3.9): the code and link, stats, rewards (paginated) and referred users."""

from flask import url_for

from tradeapp.blueprints.api import ApiBlueprint, PageArgsSchema, api_user, page_schema, paginate, token_required
from tradeapp.blueprints.referrals.schemas import (
    CodeSchema,
    ReferredUserSchema,
    RewardArgsSchema,
    RewardSchema,
    StatsSchema,
)
from tradeapp.mail import public_url
from tradeapp.services.referrals import queries

blp = ApiBlueprint(
    "referrals_api", __name__, url_prefix="/api/v1/referrals", description="Referral code, statistics and rewards"
)


def code_payload(user) -> dict:
    return {
        "referral_code": user.referral_code,
        "referral_link": public_url("users.register", ref=user.referral_code),
        "qr_code_svg": url_for("referrals.referral_qr"),
    }


@blp.route("/code/", methods=["GET"])
@token_required()
@blp.response(200, CodeSchema)
def referral_code():
    """Your referral code and the link to share (it pre-fills the code on the registration page)."""
    return code_payload(api_user())


@blp.route("/stats/", methods=["GET"])
@token_required()
@blp.response(200, StatsSchema)
def referral_stats():
    """Referrals (total, active, qualified), rewards paid and pending per currency, tier and progress."""
    return queries.stats(api_user())


@blp.route("/rewards/", methods=["GET"])
@token_required()
@blp.arguments(RewardArgsSchema, location="query")
@blp.response(200, page_schema(RewardSchema))
def referral_rewards(args):
    """Your rewards, newest first; filter by `status` or `reward_type`."""
    return paginate(queries.rewards_query(api_user(), args.get("status"), args.get("reward_type")))


REFERRED_PAGE = page_schema(ReferredUserSchema)


def _referred() -> dict:
    page = paginate(queries.referees_query(api_user()))
    page["results"] = queries.describe(page["results"])
    return page


@blp.route("/referred-users/", methods=["GET"])
@token_required()
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, REFERRED_PAGE)
def referred_users(args):
    """The people who joined with your code: username, joined, verified, filled orders (never their e-mail)."""
    return _referred()


@blp.route("/referred_users/", methods=["GET"])
@token_required()
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, REFERRED_PAGE)
def referred_users_router(args):
    """The same list at the seed router's spelling (`@action def referred_users`)."""
    return _referred()
