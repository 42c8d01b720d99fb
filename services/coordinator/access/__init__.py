"""Access to the coordinator's HTTP API: scoped, expiring API tokens.

``scopes`` (the scopes and :class:`Principal`, no I/O), ``schemas`` (commands and read
models), ``service`` (issue, list, revoke, verify), ``dependencies`` (the FastAPI
dependencies every route declares its scope with), ``views`` (``/tokens``, ``/scopes``).
"""
