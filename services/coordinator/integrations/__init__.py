"""Integrations: what integrators receive of the coordinator's accepted events.

``feed`` (the event log as integrators see it), ``webhooks`` (enqueuing and sending),
``destinations`` (where webhooks may go), ``schemas`` (commands and read models of
subscriptions), ``subscriptions`` (the handlers that change them), ``queries`` (their reads),
and the routes: ``webhook_views`` (``/webhooks``), ``stream_views`` (``/stream``, SSE),
``contract_views`` (``/asyncapi.json``, ``/schemas``).
"""
