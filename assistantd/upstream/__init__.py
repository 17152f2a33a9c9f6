"""Upstreams: which server serves a model name (``routes``), and the ChatModel over them (``chat``)
that settles each server's quirks (``normalise``, ``refusals``); ``catalog`` answers ``/v1/models``."""

from assistantd.upstream.routes import Profile, Route, Routes, build_routes

__all__ = ["Profile", "Route", "Routes", "build_routes"]
