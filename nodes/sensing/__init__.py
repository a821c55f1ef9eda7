"""Clients of the RuView sensing-server shared by the live source kinds (``http_poll``,
``ws_sensing``): decoding its JSON into items with schema-drift checks (``updates``), capped
exponential backoff (``backoff``) and the lifecycle every live source shares: reconnects,
``source.down``/``source.up`` events, counted drops (``live``). No I/O at import.
"""
