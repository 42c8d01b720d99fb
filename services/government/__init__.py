"""The government service: county bureaus, their programmes (subsidies, funds, training) and needs."""
