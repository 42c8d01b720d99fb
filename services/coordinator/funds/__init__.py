"""The special funds as the coordinator follows them: each government organisation's fund
ledger, rebuilt from its ``fund.*`` events with the ledger's rules checked again, and the
utilisation report per fund, share, township and quarter."""
