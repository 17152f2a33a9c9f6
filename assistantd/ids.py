"""Object ids with OpenAI's prefixes and 24 base62 characters."""

from __future__ import annotations

import secrets
import string
import time

_ALPHABET = string.ascii_letters + string.digits
_LENGTH = 24
_SPACE = len(_ALPHABET) ** _LENGTH

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
    "compaction": "cmp_",
    "reasoning": "rs_",
    "project": "proj_",
    "service_account": "svc_acct_",
}


def new_id(kind: str) -> str:
    # One draw from the OS for the whole id (a choice per character cost 24 reads: ~0.1 ms an id).
    number = secrets.randbelow(_SPACE)
    characters = []
    for _ in range(_LENGTH):
        number, digit = divmod(number, len(_ALPHABET))
        characters.append(_ALPHABET[digit])
    return PREFIXES[kind] + "".join(characters)


def now() -> int:
    """Unix seconds, as every timestamp on the wire."""
    return int(time.time())
