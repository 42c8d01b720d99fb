"""The enterprise service: companies, their procurement requests and their offers."""
