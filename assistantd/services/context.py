"""Who is calling (kept here for the services; the engine reads it from ``assistantd.caller``)."""

from assistantd.caller import Caller

__all__ = ["Caller"]
