"""Where the API deliberately differs from the seed's (the spec's DRF API), in words for clients.

A leaf module (no imports): the OpenAPI description (``config.API_SPEC_OPTIONS``) lists these, the
README's API section repeats them, and the conformance table (``tests/api/seed_table.py``) names
the ones each endpoint has. Everything else follows the seed: paths, field names, choices, status
codes, pagination, unknown and read-only fields ignored, JSON, form and multipart bodies.
"""

#: every endpoint: the seed answers errors as DRF does ({"detail"}, {field: [...]}, {"error"})
ERRORS = "Errors are `{error, code, fields}` (a message, a stable code, messages per field), not DRF's shapes."
AMOUNTS = (
    "Amounts are strict: ASCII digits and one dot, at most the currency's or pair's decimals; `1e1`, `+1`, "
    "spaces inside, other scripts' digits, NaN and infinities are refused (DRF's DecimalField takes some)."
)
DIFFERENCES = {
    "password": "Passwords need 10+ characters, not common, not like the user's details (NIST 800-63B).",
    "order_status": "Orders are never `pending`: they are `open` (or filled/rejected) the moment they are placed.",
    "order_source": "Order `source` adds `loan` for orders the loans domain places; a position close is `manual` "
    "with `position` set.",
    "position_side": "Positions are spot and long only: `short` never occurs.",
    "document_number": "The KYC document number is masked (`•••• 4821`): it is stored encrypted and never sent back.",
    "kyc_submit": "One pending KYC submission at a time; files are checked by content; a rejected customer may "
    "submit again (the seed allows one submission ever).",
    "kyc_decision": "KYC approve/reject answer with the decided record beside the seed's `message`.",
    "withdrawal": "Withdrawals to a bank need a valid IBAN and account holder, to a crypto wallet a valid address "
    "for the network; verified identity (KYC), 24-hour limits and a fee apply; amount + fee is held, not moved.",
    "deposit": "Deposits declare `amount` and `currency` (the seed reads them but never declares them); what we "
    "issue (client secret, bank reference, address) is shown over the customer's `payment_details`.",
    "delete_order": "DELETE /orders/{id}/ cancels the order (204) and keeps it, cancelled, with its fills.",
    "cancel": "Cancelling an order past cancelling is a 400 with code `illegal_transition`.",
    "wallet_empty": "A wallet currency never used answers a zero wallet with a null id, not a 404.",
    "login": "Staff accounts also send `otp` (two-factor); repeated failures lock the account for a while.",
    "logout": "Logout takes the `refresh` token to revoke (the seed's URL has no view to copy).",
    "transfer": "Transfers (the seed names the route only) take `to_email` or `to_username`; the answer is the "
    "sender's transaction line.",
    "reset_confirm": "Password-reset confirm (the seed names the route only) takes `token`, `password`, "
    "`password_confirm`.",
    "signal_subscription": "Subscribing charges the plan's price through the ledger (400 `insufficient_funds` when "
    "the balance does not cover it); `status` is read-only; cancel and DELETE stop the renewal, keep access until "
    "`expires_at` and keep the subscription (DELETE answers 204 and deletes nothing).",
    "signals_visible": "GET /signals/ lists the signals sent to the plans you currently subscribe to (decided ones "
    "too, with their outcome); staff with `signals.publish` create signals with POST /signals/.",
    "signal_execute": "Execute takes `quantity` or `amount` (quote currency): a market order within a tolerance of "
    "the entry, else a limit at the entry; the signal's stop-loss and take-profit go on the position; a close "
    "signal closes the position. The answer adds the `order`.",
    "currency_case": "Currency codes are case-insensitive ASCII: `usd` is read as `USD`.",
    "trader_privacy": "A lead trader's `user` is null and `user_info` holds only the display name: the account's "
    "e-mail, phone and referral code are never shown; stats are computed from our own fills, not typed in.",
    "copy_subscribe": "Subscribing holds `copy_percentage` % of your available balance as the allocation (a ledger "
    "hold); a second subscription to the same trader is a 400 `already_subscribed`; a PATCH may be partial and "
    "cannot move a subscription to another trader.",
    "copy_unsubscribe": "Unsubscribing (DELETE) settles the profit share owed, releases the allocation and ends the "
    "subscription (204); it stays listed as `ended` with its copied trades.",
    "copy_performance": "Copy performance carries real realised and unrealised profit per subscription and in total "
    "(the seed always says 0).",
    "copied_trade": "Copied trades also list skipped and failed copies with `status`, `reason` and `detail` "
    "(`follower_order` null).",
    "bot_is_active": "A bot's `is_active` changes only through start/stop (which check its pairs and cash); POST and "
    "PATCH ignore it, and a running bot is not deleted (409 `illegal_transition`).",
    "bot_trade_order": "Paper bots' trades have no order (`order` null): they fill on the live order book against "
    "the bot's paper cash, never a wallet; live bots' trades link their `source='bot'` order.",
    "bot_strategies": "GET /bot-strategies/ (listed by the seed, never written) pages each strategy with its "
    "parameter schema (name, type, default, bounds).",
    "loan_apply": "Loan applications need verified identity (403), collateral whose live market value meets the "
    "product's initial LTV (a 400 says the minimum, e.g. `Minimum collateral: 0.0213 BTC`), held at once; at most "
    "3 open loans; `term_days` must be one the product allows. Loans are never edited or deleted (405).",
    "loan_repay": "Repayments pay accrued interest first, then principal, and never take more than is owed: the "
    "answer adds the split, `capped` (the overpayment left in the wallet) and the loan.",
    "loan_cancel": "A customer can withdraw a pending application (`POST /loans/{id}/cancel/`, not in the seed): it "
    "ends `cancelled`, a status the seed lacks, and its collateral is released at once. A defaulted loan's shortfall "
    "can be repaid (it then ends `repaid`) or written off by staff (`POST /loans/{id}/write-off/`: `written_off`).",
    "loan_decision": "Loan approve/reject answer with the loan beside the seed's `message`; above a threshold two "
    "different staff approve, and nobody approves their own loan.",
    "referral_rewards": "Referral rewards are paginated; `status` adds `cancelled` and `clawed_back` (a refunded or "
    "charged-back deposit, a self-referral); a reward waiting for staff review is `pending` with `on_hold` true.",
    "referred_users": "Referred users are paginated and never show the referee's e-mail (the seed leaked it); "
    "`/referrals/referred_users/` (the router's spelling) answers the same.",
}


def description() -> str:
    """The OpenAPI ``info.description``: what the API is, and where it deliberately differs from the seed."""
    lines = [
        "JSON API for the tradeapp mobile apps, in the seed's dialect: its paths, field names, choices, "
        "status codes and `{count, next, previous, results}` pages. Bodies may be JSON (numbers are read "
        "exactly, as decimals), `application/x-www-form-urlencoded` or `multipart/form-data`; unknown and "
        "read-only fields are ignored. Extra fields and routes are additions.",
        "",
        "Deliberate differences from the seed (safer, or filling a gap it leaves):",
        "",
        f"- {ERRORS}",
        f"- {AMOUNTS}",
    ]
    lines += [f"- {text}" for text in DIFFERENCES.values()]
    return "\n".join(lines)
