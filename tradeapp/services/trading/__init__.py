"""Trading: pairs, prices, orders, their execution and fills, positions, candles."""
