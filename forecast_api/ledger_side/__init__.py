"""The forecast ledger as an API worker uses it: the link, the upkeep, metrics, track record."""
