"""The ngo service: social organisations, their training courses and services."""
