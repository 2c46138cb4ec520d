"""Fixtures of the data_sources tests; `fake_upstreams` comes from fake_upstreams.py."""

from tests.data_sources.fake_upstreams import fake_upstreams

__all__ = ["fake_upstreams"]
