"""Fetching a URL a client gave as input (``file_url``, ``image_url``), guarded against SSRF.

Unless allowed, an address that is not public (loopback, private, link-local, multicast,
unspecified, reserved) is refused: the host's every address is checked when it is resolved, on the
first request and on each redirect, and the connection goes only to the addresses checked (so a
second DNS answer cannot swap one in). The answer's size and the whole fetch's time are bounded.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from assistantd.errors import InvalidRequest

MAX_REDIRECTS = 5
CHUNK = 64 << 10


@dataclass(frozen=True)
class URLLimits:
    allow_private: bool
    max_bytes: int
    timeout_seconds: float


@dataclass(frozen=True)
class Fetched:
    data: bytes
    content_type: str
    filename: str


class Refused(Exception):
    """The URL may not be fetched (the reason completes "Error while downloading <url>: ...")."""


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_unspecified
        or ip.is_reserved
        or (isinstance(ip, ipaddress.IPv4Address) and ip in ipaddress.ip_network("100.64.0.0/10"))
    )


def _check(address: str, allow_private: bool) -> None:
    if not allow_private and not _public(address):
        raise Refused(f"the address {address} is not a public address")


class CheckedResolver(AbstractResolver):
    """Resolves as the system does, then refuses any address that is not allowed."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, family=family)
        except socket.gaierror:
            raise Refused(f"the host {host} could not be resolved") from None
        results: list[ResolveResult] = []
        for found_family, _, proto, _, address in infos:
            _check(str(address[0]), self.allow_private)
            results.append(
                {
                    "hostname": host,
                    "host": str(address[0]),
                    "port": int(address[1]),
                    "family": found_family,
                    "proto": proto,
                    "flags": socket.AI_NUMERICHOST,
                }
            )
        return results

    async def close(self) -> None:
        return None


def _checked_url(url: str, allow_private: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise Refused(f"the URL scheme '{parts.scheme}' is not supported; expected 'http' or 'https'")
    if not parts.hostname:
        raise Refused("the URL has no host")
    try:
        ipaddress.ip_address(parts.hostname)
    except ValueError:
        _check_legacy_numeric(parts.hostname, allow_private)
        return  # a name: checked as it resolves
    _check(parts.hostname, allow_private)


def _check_legacy_numeric(host: str, allow_private: bool) -> None:
    """Refuses the numeric forms that C resolvers still read ('2130706433', '127.1', '0x7f.1'),
    naming the address they stand for rather than failing later with a client error."""
    if not re.fullmatch(r"[0-9a-fA-FxX.]+", host) or not host[0].isdigit():
        return
    try:
        address = socket.inet_ntoa(socket.inet_aton(host))
    except OSError:
        return
    _check(address, allow_private)


async def _body(answer: aiohttp.ClientResponse, limit: int) -> bytes:
    if answer.content_length is not None and answer.content_length > limit:
        raise Refused(f"the file is larger than {limit} bytes")
    data = bytearray()
    async for chunk in answer.content.iter_chunked(CHUNK):
        data += chunk
        if len(data) > limit:
            raise Refused(f"the file is larger than {limit} bytes")
    return bytes(data)


async def _follow(session: aiohttp.ClientSession, url: str, limits: URLLimits) -> Fetched:
    for _ in range(MAX_REDIRECTS + 1):
        _checked_url(url, limits.allow_private)
        async with session.get(url, allow_redirects=False) as answer:
            if answer.status in (301, 302, 303, 307, 308) and answer.headers.get("Location"):
                url = urljoin(url, answer.headers["Location"])
                continue
            if answer.status != 200:
                raise Refused(f"the server answered {answer.status}")
            data = await _body(answer, limits.max_bytes)
            name = urlsplit(url).path.rsplit("/", 1)[-1] or "file"
            return Fetched(data, answer.content_type or "application/octet-stream", name)
    raise Refused(f"more than {MAX_REDIRECTS} redirects")


async def fetch_input(url: str, limits: URLLimits, param: str) -> Fetched:
    """The URL's content, or a 400 naming ``param`` and why it could not be fetched."""
    connector = aiohttp.TCPConnector(resolver=CheckedResolver(limits.allow_private), use_dns_cache=False)
    try:
        async with asyncio.timeout(limits.timeout_seconds):
            async with aiohttp.ClientSession(connector=connector, trust_env=False) as session:
                return await _follow(session, url, limits)
    except Refused as exc:
        reason = str(exc)
    except TimeoutError:
        reason = f"it took longer than {limits.timeout_seconds:g} seconds"
    except (aiohttp.ClientError, ValueError) as exc:
        reason = _client_error(exc)
    raise InvalidRequest(f"Error while downloading {url}: {reason}.", param=param, code="invalid_value")


def _client_error(exc: Any) -> str:
    cause = getattr(exc, "os_error", None) or exc.__cause__
    if isinstance(cause, Refused):
        return str(cause)
    return f"the request failed ({type(exc).__name__})"
