"""The ``ml_model`` strategy's model: features, walk-forward training and a portable fitted model.

Features per bar (known at its close): 1- and 5-bar returns, RSI(14), MACD histogram / close and
the Bollinger band width. The label of bar ``t`` is whether bar ``t+1`` closes higher, so it is
known only at ``t+1``'s close: a prediction for bar ``i`` uses a model fitted on rows ``t ≤ i-1``
whose labels were known by then (no look-ahead). A fitted model is kept as plain numbers
(scaler means and scales, coefficients, intercept), so storing it per bot needs no pickle.
"""

import numpy as np
import pandas as pd

from tradeapp.services.bots import indicators as ind

FEATURES = ("ret_1", "ret_5", "rsi", "macd_hist", "band_width")
MIN_TRAIN = 50


def features(df: pd.DataFrame) -> pd.DataFrame:
    close = df["close"].astype(float)
    line, sig = ind.macd(close)
    lower, middle, upper = ind.bollinger(close, 20, 2.0)
    return pd.DataFrame(
        {
            "ret_1": close.pct_change(1, fill_method=None),
            "ret_5": close.pct_change(5, fill_method=None),
            "rsi": ind.rsi(close, 14) / 100.0,
            "macd_hist": (line - sig) / close,
            "band_width": (upper - lower) / middle,
        },
        index=df.index,
    )


def labels(df: pd.DataFrame) -> pd.Series:
    close = df["close"].astype(float)
    return (close.shift(-1) > close).astype(float).where(close.shift(-1).notna())


def fit(x: np.ndarray, y: np.ndarray) -> dict | None:
    """A logistic regression on standardised features, as plain lists; None when one class only."""
    from sklearn.linear_model import LogisticRegression

    if len(y) < MIN_TRAIN or len(np.unique(y)) < 2:
        return None
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(max_iter=300).fit((x - mean) / scale, y)
    return {
        "features": list(FEATURES),
        "mean": mean.tolist(),
        "scale": scale.tolist(),
        "coef": model.coef_[0].tolist(),
        "intercept": float(model.intercept_[0]),
    }


def predict(model: dict, x: np.ndarray) -> np.ndarray:
    """P(next bar closes higher) for each row of ``x``."""
    z = ((x - np.asarray(model["mean"])) / np.asarray(model["scale"])) @ np.asarray(model["coef"])
    return 1.0 / (1.0 + np.exp(-(z + model["intercept"])))


def train_latest(df: pd.DataFrame, window: int) -> dict | None:
    """A model on the last ``window`` bars whose labels are known (for a live bot's training job)."""
    x, y = features(df), labels(df)
    ok = x.notna().all(axis=1) & y.notna()
    idx = np.flatnonzero(ok.to_numpy())[-window:]
    return fit(x.to_numpy()[idx], y.to_numpy()[idx])


def walk_forward_proba(df: pd.DataFrame, p: dict) -> pd.Series:
    """Per bar, the probability from a model trained only on earlier bars (NaN before the first model)."""
    x = features(df)
    y = labels(df).to_numpy()
    xs = x.to_numpy()
    ok = x.notna().all(axis=1).to_numpy()
    out = np.full(len(df), np.nan)
    window, every = int(p["train_window"]), int(p["retrain_every"])
    for start in range(MIN_TRAIN + 1, len(df), every):
        # row t's label is bar t+1's close: rows t <= start-1 are known at bar ``start``'s close
        rows = np.arange(max(0, start - window), start)
        rows = rows[ok[rows] & ~np.isnan(y[rows])]
        model = fit(xs[rows], y[rows])
        if model is None:
            continue
        block = np.arange(start, min(start + every, len(df)))
        block = block[ok[block]]
        if len(block):
            out[block] = predict(model, xs[block])
    return pd.Series(out, index=df.index)
