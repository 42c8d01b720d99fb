"""The core every Sifang service shares: events, messaging, persistence, auth, the stakeholder API."""
