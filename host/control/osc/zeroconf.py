"""Zeroconf (mDNS/DNS-SD): advertise the OSC server as ``_osc._udp`` so tablet apps find the host.

TouchOSC and other OSC apps browse for ``_osc._udp.local.`` (DNS-SD, RFC 6763
s. 7: ``_<service>._<proto>``) and list each instance by its name.  The
service instance is named after the session; its SRV record gives the port,
its A/AAAA records the addresses the server listens on.  A server bound to
loopback is unreachable from a tablet, so nothing is advertised for it; one
bound to the wildcard address is advertised on every non-loopback address.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ...errors import UserInputError

if TYPE_CHECKING:
    from zeroconf import ServiceInfo, Zeroconf

log = logging.getLogger(__name__)

SERVICE_TYPE = "_osc._udp.local."
MAX_INSTANCE_BYTES = 63          # RFC 6763 s. 4.1.1: an instance name is at most 63 octets


@dataclass
class Advertisement:
    """A registered ``_osc._udp`` service; :meth:`close` unregisters it (a goodbye) and stops mDNS."""

    name: str                     # the full service name, ``<instance>._osc._udp.local.``
    port: int
    addresses: list[str]
    _zeroconf: Zeroconf = field(repr=False)
    _info: ServiceInfo = field(repr=False)
    _closed: bool = field(default=False, repr=False)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._zeroconf.unregister_service(self._info)
        except OSError as error:   # the network went away: there is nobody to say goodbye to
            log.debug("zeroconf: unregistering %s: %s", self.name, error)
        finally:
            self._zeroconf.close()


def advertise(name: str, host: str, port: int) -> Advertisement | None:
    """Advertise an OSC server at ``host``:``port`` under the instance name ``name``.

    Returns None when there is nothing to advertise (``host`` is loopback, or
    the wildcard address and the machine has no other address) or when mDNS
    cannot start here (logged, with what to do): a missing advertisement
    never stops the server.  Raises :class:`UserInputError` for a ``host``
    that is not an IP address or a port out of range.
    """
    address = _parse_host(host)
    if not 0 < port < 65536:
        raise UserInputError(f"OSC port {port} is out of range; use 1 to 65535")
    if address.is_loopback:
        log.info("zeroconf: not advertised: the OSC server listens on loopback (%s) only", host)
        return None
    addresses = _interface_addresses(address.version) if address.is_unspecified else [str(address)]
    if not addresses:
        log.info("zeroconf: not advertised: no network address besides loopback")
        return None
    return _register(instance_name(name), addresses, port)


def instance_name(name: str) -> str:
    """A DNS-SD instance label from a session name: no dots (they would split the label), 63 octets at most."""
    label = " ".join(name.replace(".", " ").split()) or "mixhost"
    encoded = label.encode("utf-8")[:MAX_INSTANCE_BYTES]
    return encoded.decode("utf-8", errors="ignore").strip()


def _parse_host(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        raise UserInputError(f"{host!r} is not an IP address to advertise the OSC server on",
                             hint="bind the OSC server to an address such as 0.0.0.0 or 192.168.1.20") from None


def _interface_addresses(version: int) -> list[str]:
    """The machine's addresses of IP ``version``, loopback and (IPv6) link-local left out."""
    import ifaddr

    found = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            text = ip.ip if isinstance(ip.ip, str) else ip.ip[0]   # IPv6 comes as (address, flow, scope)
            address = ipaddress.ip_address(text)
            if address.version == version and not (address.is_loopback or address.is_link_local):
                found.append(text)
    return found


def _register(instance: str, addresses: list[str], port: int) -> Advertisement | None:
    from zeroconf import IPVersion, NonUniqueNameException, ServiceInfo, Zeroconf

    version = ipaddress.ip_address(addresses[0]).version
    host_label = "".join(c if c.isalnum() or c == "-" else "-" for c in socket.gethostname()) or "mixhost"
    info = ServiceInfo(
        SERVICE_TYPE, f"{instance}.{SERVICE_TYPE}", port=port,
        addresses=[ipaddress.ip_address(a).packed for a in addresses],
        server=f"{host_label}.local.", properties={"app": "mixhost"},
    )
    try:
        zeroconf = Zeroconf(interfaces=addresses, ip_version=IPVersion.V4Only if version == 4 else IPVersion.V6Only)
    except OSError as error:
        log.warning("zeroconf: cannot start mDNS on %s (%s); tablets must be given this host's address by hand",
                    ", ".join(addresses), error.strerror or error)
        return None
    try:
        # another host (or a second mixhost) with the same session name gets "name (2)", as DNS-SD does
        zeroconf.register_service(info, allow_name_change=True)
    except (OSError, NonUniqueNameException) as error:
        zeroconf.close()
        log.warning("zeroconf: cannot advertise %s (%s); tablets must be given this host's address by hand",
                    instance, error)
        return None
    log.info("zeroconf: advertising %s on %s port %d", info.name, ", ".join(addresses), port)
    return Advertisement(info.name, port, addresses, zeroconf, info)
