"""The trade page: layout, order form (preview, place, inline errors), open orders, history, positions, dashboard.

Prices are pinned by hand (``tests.api.order_helpers.pin_prices``): BTC/USD bid 50000.00 / ask 50010.00,
levels 10 USD apart of 1 BTC each; taker fee 0.2 %, so a market buy of 0.01 BTC costs 500.10 + 1.01 fee.
"""

import re
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests.api.order_helpers import available, make_stale, pin_prices
from tests.conftest import csrf_token, web_login
from tests.trading_helpers import fund, market, pairs  # noqa: F401 - fixtures
from tradeapp.models import Order, Position
from tradeapp.services.trading import orders, positions

D = Decimal
PAGE = "/trade/BTC-USD"
ORDER = "/trade/BTC-USD/order"
PREVIEW = "/trade/BTC-USD/preview"
HX = {"HX-Request": "true"}


@pytest.fixture()
def trader(db, user, pairs, market):  # noqa: F811
    """``user`` (Alice) with 1,000 USD and 0.5 BTC, prices pinned, logged in; returns the client."""
    pin_prices(market)
    fund(user, "USD", "1000")
    fund(user, "BTC", "0.5")
    return user


@pytest.fixture()
def web(client, trader):
    response = web_login(client, trader.email)
    assert response.status_code in (302, 303)
    return client


@pytest.fixture()
def mallory_order(db, create_user, trader):
    """Another customer's resting limit order and open position."""
    mallory = create_user(email="mallory@example.com", username="mallory")
    fund(mallory, "USD", "1000")
    orders.place_order(mallory, {"symbol": "BTC/USD", "side": "buy", "order_type": "market", "quantity": "0.01"})
    order = orders.place_order(
        mallory, {"symbol": "BTC/USD", "side": "buy", "order_type": "limit", "quantity": "0.01", "price": "40000"}
    )
    position = db.session.scalar(select(Position).where(Position.user_id == mallory.id))
    return order, position


def order_form(client, **fields):
    data = {
        "csrf_token": csrf_token(client, PAGE),
        "idempotency_key": "",
        "side": "buy",
        "order_type": "market",
        "quantity": "0.01",
        "price": "",
        "stop_price": "",
    }
    data.update(fields)
    return data


def count_orders(db, user=None) -> int:
    query = select(func.count()).select_from(Order)
    if user is not None:
        query = query.where(Order.user_id == user.id)
    return db.session.scalar(query)


def text(response) -> str:
    return response.get_data(as_text=True)


# -- access and layout ---------------------------------------------------------------------------


def test_pages_need_a_login(client, pairs):  # noqa: F811
    for url in ("/trade/", PAGE, "/trade/orders/open", "/trade/positions/"):
        response = client.get(url)
        assert response.status_code == 302 and "/auth/login" in response.headers["Location"], url
    response = client.post(ORDER, data={})
    assert response.status_code == 400  # the CSRF check comes first: an anonymous form has no token
    response = client.post(ORDER, data={"csrf_token": csrf_token(client, "/auth/login"), "side": "buy"})
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    response = client.get(PAGE, headers=HX)
    assert response.status_code == 204 and "/auth/login" in response.headers["HX-Redirect"]


def test_index_opens_the_first_market_and_symbols_are_canonical(web):
    response = web.get("/trade/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/trade/BTC-USD")
    response = web.get("/trade/btc-usd?tf=5m")
    assert response.status_code == 301 and response.headers["Location"].endswith("/trade/BTC-USD?tf=5m")
    assert web.get("/trade/DOGE-USD").status_code == 404


def test_no_open_markets(client, user, db):
    web_login(client, user.email)
    response = client.get("/trade/")
    assert response.status_code == 200 and "No markets are open right now" in text(response)


def test_inactive_market_is_404(web, db, pairs):  # noqa: F811
    pairs["ETH/USD"].is_active = False
    db.session.commit()
    assert web.get("/trade/ETH-USD").status_code == 404
    assert "ETH/USD" not in text(web.get(PAGE)).split('id="pair-list"')[1].split("</nav>")[0]


def test_page_shows_markets_chart_book_form_and_empty_lists(web):
    html = text(web.get(PAGE))
    # nav, markets with search, the chart fed by the candles API
    assert 'href="/trade/"' in html and ">Trade</a>" in html
    assert 'data-pair="BTC-USD"' in html and 'data-pair="ETH-USD"' in html and 'aria-current="page"' in html
    assert "data-pair-search" in html
    assert 'data-candles-url="/api/v1/candles/BTC-USD/"' in html
    assert "lightweight-charts.standalone.production.js" in html and "js/trade.js" in html
    assert all(f'data-timeframe="{tf}"' in html for tf in ("1m", "5m", "15m", "1h", "4h", "1d"))
    # the book from the pinned prices: best ask 50,010.00, best bid 50,000.00, spread 10.00
    book = html.split('id="orderbook"')[1]
    assert 'data-price="50010.00"' in book and 'data-price="50000.00"' in book
    assert "data-book-spread>10.00<" in book
    # the order form: sides, types, the balances it can spend
    assert 'id="order-form"' in html and 'name="idempotency_key"' in html
    for value in ("buy", "sell", "market", "limit", "stop_loss", "take_profit"):
        assert f'value="{value}"' in html
    assert "1,000.00</strong> USD" in html and "0.50000000</strong> BTC" in html
    # empty states say what to do next; no stale banner
    assert "No open orders — place a limit" in html
    assert "No positions yet — buy on any market" in html
    assert 'class="alert alert-warning trade-stale hidden"' in html
    assert re.search(r'<button class="btn btn-block btn-submit" type="submit">', html)


def test_timeframe_from_the_query_string(web):
    html = text(web.get(PAGE + "?tf=15m"))
    assert re.search(r'id="trade"[^>]*data-timeframe="15m"', html)
    assert 'class="tf active" href="/trade/BTC-USD?tf=15m"' in html
    html = text(web.get(PAGE + "?tf=7m"))  # an unknown value falls back to 1h
    assert re.search(r'id="trade"[^>]*data-timeframe="1h"', html)


def test_search_without_javascript_filters_on_the_server(web):
    html = text(web.get(PAGE + "?q=eth"))
    listing = html.split('id="pair-list"')[1].split("</nav>")[0]
    assert 'data-pair="ETH-USD"' in listing and 'data-pair="BTC-USD"' not in listing
    listing = text(web.get(PAGE + "?q=zzz")).split('id="pair-list"')[1].split("</nav>")[0]
    assert "No market matches" in listing and 'class="pair-none muted small"' in listing


def test_stale_market_shows_the_banner_and_disables_submit(web, monkeypatch):
    make_stale(monkeypatch, "BTC/USD")
    html = text(web.get(PAGE))
    assert 'class="alert alert-warning trade-stale"' in html and "prices are not updating" in html
    assert re.search(r'<button class="btn btn-block btn-submit" type="submit" disabled>', html)
    assert 'data-stale="1"' in html


def test_order_book_fragment(web):
    response = web.get("/trade/BTC-USD/book", headers=HX)
    html = text(response)
    assert response.status_code == 200 and html.lstrip().startswith('<div id="orderbook"') and "<html" not in html
    assert html.count('class="book-row"') == 10  # 5 levels a side
    assert web.get("/trade/BTC-USD/book").status_code == 303  # the page holds the fragment


# -- preview ---------------------------------------------------------------------------------------


def test_preview_shows_price_fee_and_total(web):
    html = text(web.post(PREVIEW, data=order_form(web), headers=HX))
    assert "Est. price" in html and "50,010.00 USD" in html
    assert "500.10 USD" in html and "Fee (0.2%)" in html and "1.01 USD" in html
    assert "Total cost" in html and "501.11 USD" in html
    assert "More than your available" not in html


def test_preview_of_a_sell_limit_and_of_too_much(web):
    html = text(web.post(PREVIEW, data=order_form(web, side="sell", order_type="limit", price="60000"), headers=HX))
    # the limit sell rests above the bid: it will fill as a maker, at the maker fee
    assert "You receive" in html and "600.00 USD" in html and "Maker fee (0.1%)" in html
    assert "0.60 USD" in html and "599.40 USD" in html
    html = text(web.post(PREVIEW, data=order_form(web, quantity="0.5"), headers=HX))
    assert "More than your available 1,000.00 USD" in html


def test_preview_hints_and_errors(web):
    html = text(web.post(PREVIEW, data=order_form(web, quantity=""), headers=HX))
    assert "Enter an amount to see the price, fee and total." in html
    html = text(web.post(PREVIEW, data=order_form(web, quantity="abc"), headers=HX))
    assert 'class="preview-msg field-errors"' in html
    html = text(web.post(PREVIEW, data=order_form(web, order_type="limit", price=""), headers=HX))
    assert 'class="preview-msg field-errors"' in html


# -- placing ---------------------------------------------------------------------------------------


def test_market_buy_fills_and_the_form_comes_back_fresh(web, db, trader):
    form = order_form(web, idempotency_key="k-1")
    response = web.post(ORDER, data=form, headers=HX)
    html = text(response)
    assert response.status_code == 200 and html.lstrip().startswith("<form") and "<html" not in html
    assert response.headers["HX-Trigger"] == "ordersChanged"
    assert "Bought 0.01 BTC at 50,010.00 USD." in html
    quantity = re.search(r'<input[^>]*name="quantity"[^>]*>', html).group(0)
    assert 'value="0.01"' not in quantity  # cleared for the next order
    assert 'value="k-1"' not in html  # a fresh key for the next order
    order = db.session.scalar(select(Order).where(Order.user_id == trader.id))
    assert order.status == "filled" and order.filled_quantity == D("0.01")
    assert available(trader) == D("1000") - D("501.11")


def test_double_submit_places_one_order(web, db, trader):
    form = order_form(web, idempotency_key="same-key")
    first = web.post(ORDER, data=form, headers=HX)
    second = web.post(ORDER, data=form, headers=HX)
    assert first.status_code == second.status_code == 200
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert count_orders(db, trader) == 1


def test_limit_order_rests_and_keeps_side_and_type(web, db, trader):
    response = web.post(ORDER, data=order_form(web, order_type="limit", price="45000", quantity="0.02"), headers=HX)
    html = text(response)
    assert response.status_code == 200 and "Limit order placed: it waits in your open orders." in html
    assert re.search(r'value="limit"[^>]*checked|checked[^>]*value="limit"', html)
    order = db.session.scalar(select(Order).where(Order.user_id == trader.id))
    assert order.status == "open" and order.price == D("45000")
    assert available(trader) == D("1000") - D("901.80")  # 900 + 0.2 % fee held


def test_price_field_of_another_type_is_ignored(web, db, trader):
    response = web.post(ORDER, data=order_form(web, price="123", stop_price="456"), headers=HX)
    assert response.status_code == 200
    order = db.session.scalar(select(Order).where(Order.user_id == trader.id))
    assert order.order_type == "market" and order.price is None and order.stop_price is None


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"quantity": ""}, "quantity", "This field is required."),
        ({"quantity": "0.00001"}, "quantity", None),
        ({"quantity": "abc"}, "quantity", None),
        ({"order_type": "limit", "price": ""}, "price", None),
        ({"order_type": "stop_loss", "side": "sell", "stop_price": ""}, "stop_price", None),
        ({"order_type": "fancy"}, None, "Not a valid choice"),
        ({"side": "hold"}, None, "Not a valid choice"),
    ],
)
def test_bad_orders_come_back_422_with_inline_errors(web, db, fields, field, message):
    response = web.post(ORDER, data=order_form(web, **fields), headers=HX)
    html = text(response)
    assert response.status_code == 422 and html.lstrip().startswith("<form")
    if field:
        assert f'id="field-{field}"' in html
        assert re.search(rf'class="field[^"]*has-error" id="field-{field}"', html), html
    if message:
        assert message in html
    assert "HX-Trigger" not in response.headers
    assert count_orders(db) == 0


def test_insufficient_funds_is_an_inline_error(web, db):
    response = web.post(ORDER, data=order_form(web, quantity="0.5"), headers=HX)
    html = text(response)
    assert response.status_code == 422
    assert re.search(r'class="field[^"]*has-error" id="field-quantity"', html)
    assert "more than you have available" in html
    assert count_orders(db) == 0


def test_stale_market_refuses_orders(web, db, monkeypatch):
    make_stale(monkeypatch, "BTC/USD")
    response = web.post(ORDER, data=order_form(web), headers=HX)
    html = text(response)
    assert response.status_code == 422 and "feed for BTC/USD is failing" in html
    assert 'class="alert alert-error"' in html
    assert count_orders(db) == 0


def test_without_htmx_placing_redirects_with_a_message(web, db):
    response = web.post(ORDER, data=order_form(web))
    assert response.status_code == 303 and response.headers["Location"].endswith(PAGE)
    assert "Bought 0.01 BTC" in text(web.get(PAGE))
    response = web.post(ORDER, data=order_form(web, quantity="abc"))
    assert response.status_code == 303
    assert count_orders(db) == 1


def test_available_balances_fragment(web):
    html = text(web.get("/trade/BTC-USD/balances", headers=HX))
    assert html.lstrip().startswith('<div id="order-balances"') and "1,000.00" in html and "0.50000000" in html


# -- open orders, cancel, history ----------------------------------------------------------------


def test_open_orders_list_and_inline_cancel(web, db, trader):
    order = orders.place_order(
        trader, {"symbol": "BTC/USD", "side": "buy", "order_type": "limit", "quantity": "0.02", "price": "45000"}
    )
    html = text(web.get("/trade/orders/open", headers=HX))
    assert f'id="order-{order.id}"' in html and "45,000.00" in html and "Cancel" in html
    assert 'data-count="1"' in html

    response = web.post(f"/trade/orders/{order.id}/cancel", data={"csrf_token": csrf_token(web, PAGE)}, headers=HX)
    row = text(response)
    assert response.status_code == 200 and row.lstrip().startswith(f'<tr id="order-{order.id}"')
    assert "cancelled" in row and ">Cancel</button>" not in row
    assert response.headers["HX-Trigger"] == "ordersChanged"
    assert available(trader) == D("1000")  # the hold is released

    # cancelling again: the row says why, nothing changes
    response = web.post(f"/trade/orders/{order.id}/cancel", data={"csrf_token": csrf_token(web, PAGE)}, headers=HX)
    assert response.status_code == 422 and "already cancelled" in text(response)

    html = text(web.get("/trade/orders/open", headers=HX))
    assert "No open orders" in html
    history = text(web.get("/trade/orders/history", headers=HX))
    assert f'id="history-{order.id}"' in history and "Cancelled by you." in history


def test_cancel_without_htmx_redirects(web, db, trader):
    order = orders.place_order(
        trader, {"symbol": "BTC/USD", "side": "buy", "order_type": "limit", "quantity": "0.02", "price": "45000"}
    )
    response = web.post(f"/trade/orders/{order.id}/cancel", data={"csrf_token": csrf_token(web, PAGE)})
    assert response.status_code == 303
    assert "Order cancelled" in text(web.get(PAGE))
    db.session.expire_all()
    assert db.session.get(Order, order.id).status == "cancelled"


def test_cancel_needs_the_csrf_token(web, db, trader):
    order = orders.place_order(
        trader, {"symbol": "BTC/USD", "side": "buy", "order_type": "limit", "quantity": "0.02", "price": "45000"}
    )
    response = web.post(f"/trade/orders/{order.id}/cancel", data={}, headers=HX)
    assert response.status_code in (400, 422)
    db.session.expire_all()
    assert db.session.get(Order, order.id).status == "open"


def test_history_lists_finished_orders(web, trader):
    orders.place_order(trader, {"symbol": "BTC/USD", "side": "buy", "order_type": "market", "quantity": "0.01"})
    html = text(web.get("/trade/orders/history", headers=HX))
    assert "filled" in html and "0.01 / 0.01" in html and "50,010.00" in html and "1.01 USD" in html
    assert web.get("/trade/orders/history").status_code == 303


# -- positions -------------------------------------------------------------------------------------


@pytest.fixture()
def position(db, trader):
    orders.place_order(trader, {"symbol": "BTC/USD", "side": "buy", "order_type": "market", "quantity": "0.01"})
    return db.session.scalar(select(Position).where(Position.user_id == trader.id))


def test_positions_list_with_pnl(web, position):
    html = text(web.get("/trade/positions/", headers=HX))
    row = html.split(f'id="position-{position.id}"')[1].split("</tr>")[0]
    assert 'data-position="BTC-USD"' in row and 'data-qty="' in row
    assert "50,010.00" in row and "50,000.00" in row  # entry at the ask, marked at the bid
    assert "500.00" in row and "-0.10" in row and "-0.02%" in row
    assert "Value" in html and "$500.00" in html
    assert 'data-count="1"' in html


def test_set_and_clear_protection_inline(web, db, position):
    url = f"/trade/positions/{position.id}/protection"
    edit = text(web.get(url, headers=HX))
    assert edit.lstrip().startswith(f'<tr id="position-{position.id}" class="position-editing"')
    assert 'name="stop_loss"' in edit and 'name="take_profit"' in edit

    token = csrf_token(web, PAGE)
    response = web.post(url, data={"csrf_token": token, "stop_loss": "45000", "take_profit": "60000"}, headers=HX)
    row = text(response)
    assert response.status_code == 200 and "45,000.00" in row and "60,000.00" in row and "Saved." in row
    db.session.expire_all()
    saved = db.session.get(Position, position.id)
    assert saved.stop_loss == D("45000") and saved.take_profit == D("60000")

    response = web.post(url, data={"csrf_token": token, "stop_loss": "55000", "take_profit": ""}, headers=HX)
    html = text(response)
    assert response.status_code == 422 and "below the current bid" in html and 'name="stop_loss"' in html
    db.session.expire_all()
    assert db.session.get(Position, position.id).stop_loss == D("45000")

    response = web.post(url, data={"csrf_token": token, "stop_loss": "", "take_profit": ""}, headers=HX)
    assert response.status_code == 200
    db.session.expire_all()
    cleared = db.session.get(Position, position.id)
    assert cleared.stop_loss is None and cleared.take_profit is None

    back = text(web.get(f"/trade/positions/{position.id}/row", headers=HX))
    assert 'name="stop_loss"' not in back and ">SL/TP</a>" in back


def test_close_position_sells_it_all(web, db, trader, position):
    response = web.post(f"/trade/positions/{position.id}/close", data={"csrf_token": csrf_token(web, PAGE)}, headers=HX)
    row = text(response)
    assert response.status_code == 200 and "Closed" in row and "Sold 0.01 BTC at 50,000.00 USD." in row
    assert response.headers["HX-Trigger"] == "ordersChanged"
    db.session.expire_all()
    assert db.session.get(Position, position.id).quantity == 0
    assert "No positions yet" in text(web.get("/trade/positions/", headers=HX))

    # closing a closed position says why
    response = web.post(f"/trade/positions/{position.id}/close", data={"csrf_token": csrf_token(web, PAGE)}, headers=HX)
    assert response.status_code == 422 and 'class="small field-errors"' in text(response)
    assert re.search(r'role="alert">[^<]*closed', text(response))


# -- other people's things -----------------------------------------------------------------------


def test_other_users_orders_and_positions_are_404(web, db, mallory_order):
    order, position = mallory_order
    token = csrf_token(web, PAGE)
    assert web.get(f"/trade/orders/{order.id}/row", headers=HX).status_code == 404
    assert web.post(f"/trade/orders/{order.id}/cancel", data={"csrf_token": token}, headers=HX).status_code == 404
    assert web.get(f"/trade/positions/{position.id}/row", headers=HX).status_code == 404
    assert web.get(f"/trade/positions/{position.id}/protection", headers=HX).status_code == 404
    response = web.post(
        f"/trade/positions/{position.id}/protection", data={"csrf_token": token, "stop_loss": "1"}, headers=HX
    )
    assert response.status_code == 404
    assert web.post(f"/trade/positions/{position.id}/close", data={"csrf_token": token}, headers=HX).status_code == 404
    # nothing of theirs shows on my page, and nothing of theirs changed
    html = text(web.get(PAGE))
    assert f'id="order-{order.id}"' not in html and f'id="position-{position.id}"' not in html
    db.session.expire_all()
    assert db.session.get(Order, order.id).status == "open"
    assert db.session.get(Position, position.id).quantity == D("0.01")


# -- dashboard -------------------------------------------------------------------------------------


def test_dashboard_portfolio_empty(web):
    html = text(web.get("/dashboard"))
    assert "Portfolio" in html and "No open positions" in html and 'href="/trade/"' in html
    assert "Positions value" not in html  # no zero totals above an empty list
    assert "data-live-positions" in html and "js/positions-live.js" in html


def test_dashboard_portfolio_with_positions(web, position):
    html = text(web.get("/dashboard"))
    section = html.split('id="portfolio"')[1].split("</section>")[0]
    assert 'data-position="BTC-USD"' in section and "BTC/USD" in section
    assert "$500.00" in section and "-0.10" in section
    assert 'href="/trade/BTC-USD"' in section
    value = positions.portfolio(position_owner(position))["total_value"]
    assert f"${value:,.2f}" in section


def position_owner(position):
    from tradeapp.extensions import db
    from tradeapp.models import User

    return db.session.get(User, position.user_id)
