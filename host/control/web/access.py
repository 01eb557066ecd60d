"""Who may open the browser mixer: the bind address, a per-run token, CIDR ranges, the Origin.

* Bound to ``127.0.0.1``, ``::1`` or ``localhost`` (the default) only this
  machine reaches the server: no token.
* Bound anywhere else (a network address, ``0.0.0.0``, even another
  loopback address such as ``127.0.0.2``, which other users' sandboxes or
  containers may share) the page and the socket need a token made for this
  run (``secrets``, 128 bits), carried in the printed URL and QR code.
* ``--web-allow CIDR`` (repeatable) lets only peers in those ranges in (this
  machine always); without it any peer with the token may.
* A WebSocket opened by a browser carries an ``Origin``; it must be this
  server's own (a page from elsewhere cannot drive the mixer through a
  visitor's browser: cross-site WebSocket hijacking).
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Sequence
from urllib.parse import urlsplit

from ...errors import UserInputError

LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(allow: Sequence[str]) -> list[Network]:
    networks = []
    for text in allow:
        try:
            networks.append(ipaddress.ip_network(text.strip(), strict=False))
        except ValueError:
            raise UserInputError(f"--web-allow {text!r} is no address range",
                                 hint="give a CIDR range such as 192.168.1.0/24 (or one address)") from None
    return networks


class Access:
    """The checks every request passes (see the module docstring)."""

    def __init__(self, host: str, allow: Sequence[str] = (), token: str | None = None) -> None:
        self.host = host
        self.networks = parse_networks(allow)
        self.needs_token = host not in LOOPBACK_HOSTS
        self.token = (token or secrets.token_urlsafe(16)) if self.needs_token else None

    def peer_allowed(self, peer: str | None) -> bool:
        if peer is None:
            return False
        try:
            address = ipaddress.ip_address(peer.split("%", 1)[0])
        except ValueError:
            return False
        if address.is_loopback or not self.networks:
            return True
        return any(address in network for network in self.networks)

    def token_ok(self, given: str | None) -> bool:
        if self.token is None:
            return True
        return given is not None and hmac.compare_digest(given.encode(), self.token.encode())

    @staticmethod
    def origin_ok(origin: str | None, host_header: str | None) -> bool:
        """A browser's WebSocket comes from a page of this server (a client with no Origin is no browser)."""
        if origin is None:
            return True
        return host_header is not None and urlsplit(origin).netloc.lower() == host_header.lower()
