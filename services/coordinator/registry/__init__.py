"""The registry: organisations, registered once by the service of their kind."""
