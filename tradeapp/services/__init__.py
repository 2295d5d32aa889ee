"""Business operations: each public function is one unit of work (see :mod:`tradeapp.services.uow`)."""
