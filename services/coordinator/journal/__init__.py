"""The journal: the event log in the order events took effect, the one way the coordinator
publishes an event (``service.publish``), and events held until what they build on arrives
(``holds``)."""
