"""The web console: a static ES-module app (``static/``) served at ``/``, and the few reads it needs
that OpenAI's API has no endpoint for (``/v1/console/...``, see ``service`` and ``api/console``)."""

from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
