"""Messaging: NATS link and provisioning, outbox relay, inbox consumer and dead letters."""
