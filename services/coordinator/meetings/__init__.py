"""Joint and negotiation meetings: series, agendas, attendance and decisions, the hash-chained
record, and the follow-up of action items. The rules (``quorum``, ``chain``, ``agenda``) are
pure; the other modules apply them to the database."""
