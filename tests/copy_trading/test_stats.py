"""Lead-trader stats from our own fills: time-weighted ROI ignores deposits, drawdown, win rate, risk score."""

from decimal import Decimal

from tests.copy_trading.helpers import buy, sell, trader_row
from tests.trading_helpers import fund
from tradeapp.services.copy_trading import stats

D = Decimal


def test_a_deposit_is_not_profit_and_a_loss_is_a_drawdown(lead, btc_market, create_user):
    buy(lead, "1")  # at 50,010 with 100,000 USD: half the account
    btc_market.set("BTC/USD", "55000", "55010", levels=10, size="50", step="10")
    other = create_user(email="o@example.com", username="other")
    fund(other, "USD", "1000")
    buy(other, "0.01")  # the platform's price is now 55,010
    fund(lead, "USD", "100000")  # doubles the account: must not count as return
    sell(lead, "1")
    trader = stats.refresh(trader_row(lead).id)
    # about +5 % on the first 100,000 (4,990 gain less fees), nowhere near +100 %
    assert D("4.5") < trader.profit_percentage < D("5.1"), trader.profit_percentage
    assert trader.roi_7d == trader.profit_percentage
    assert trader.win_rate == 100 and trader.total_trades == 2
    buy(lead, "2")
    btc_market.set("BTC/USD", "44000", "44010", levels=10, size="50", step="10")
    sell(lead, "2")
    trader = stats.refresh(trader.id)
    assert trader.max_drawdown > D("5")  # 2 BTC lost 11,000 of about 205,000
    assert trader.win_rate == 50
    assert 2 <= trader.risk_score <= 10
    assert trader.equity_curve and float(trader.equity_curve[-1][1]) > 0


def test_summary_of_a_flat_or_empty_curve():
    assert stats.summarize([], 0)["roi_all"] == 0
    assert stats.risk_score(D("0"), 0.0) == 1
    assert stats.risk_score(D("80"), 0.5) == 10
