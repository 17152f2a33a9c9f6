"""Object ids with OpenAI's prefixes and 24 base62 characters."""

from __future__ import annotations

import secrets
import string
import time

_ALPHABET = string.ascii_letters + string.digits

PREFIXES = {
    "assistant": "asst_",
    "thread": "thread_",
    "message": "msg_",
    "run": "run_",
    "step": "step_",
    "call": "call_",
    "file": "file-",
    "vector_store": "vs_",
    "file_batch": "vsfb_",
    "chatkit_session": "cksess_",
    "chatkit_thread": "cthr_",
    "chatkit_item": "cthi_",
    "response": "resp_",
    "reasoning": "rs_",
}


def new_id(kind: str) -> str:
    return PREFIXES[kind] + "".join(secrets.choice(_ALPHABET) for _ in range(24))


def now() -> int:
    """Unix seconds, as every timestamp on the wire."""
    return int(time.time())
