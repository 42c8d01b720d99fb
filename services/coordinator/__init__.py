"""The coordinator service: the registry, the book of open needs and offers, the event log."""
