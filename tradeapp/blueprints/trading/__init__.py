"""Trading: pairs management (staff) and the public market-data API."""
