"""Bitrix24 REST client: typed errors, PHP query encoding, rate limit, transport."""
