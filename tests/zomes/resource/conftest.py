"""Fixtures of the Nondominium network helper (nondominium_net), for the resource tests."""

from nondominium_net import accountable_template, net  # noqa: F401
