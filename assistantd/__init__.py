"""assistantd: a self-hosted server that speaks the OpenAI Assistants API."""

__version__ = "0.1.0"
