"""Sifang's tools for people and programs outside the services: the Python client and the CLI."""
