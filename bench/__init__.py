"""Benchmarks: ``python -m bench`` (or ``make bench``) runs them all and prints a table.

Each one starts its own private Redis, the sandbox portal in this process (real HTTP on
loopback, with added latency per portal call) and the app under gunicorn as the
Procfile runs it, then measures one figure the README quotes.
"""
