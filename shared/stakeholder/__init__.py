"""The stakeholder core shared by the government, enterprise, ngo and community services."""
