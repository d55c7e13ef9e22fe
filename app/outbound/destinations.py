"""Where the sender may POST: a public address, unless the deployment lets receivers be
on the service's own machine or network (``CH_OUTBOUND_PRIVATE_NETWORKS``).

A URL naming an internal address is refused when subscribed; a name is resolved at each
attempt, every address it resolves to checked, and the connection made to the address
checked (so a name that resolves elsewhere a moment later reaches nothing internal).
"""

import asyncio
import ipaddress
import socket

import httpx

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


# IPv6 prefixes that carry an IPv4 address a gateway translates to: NAT64's well-known
# prefix (RFC 6052, the address in the last 32 bits), and its prefix for local use
# (RFC 8215), which only a network's own translator serves.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")


def _internal(address: Address) -> bool:
    """Whether an address is not public, or reaches one that is not through the IPv4
    address it carries (mapped, NAT64, 6to4)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address in _NAT64_LOCAL:
            return True
        if address in _NAT64:
            address = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        else:
            address = address.ipv4_mapped or address.sixtofour or address
    return not address.is_global or address.is_multicast


def refusal(host: str) -> str | None:
    """Why a URL's host is refused as a receiver, or None: an address or a ``localhost``
    name that is not public (names are checked again, resolved, at each attempt)."""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return f"{host} is this machine, not a public address"
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return None
    return f"{host} is not a public address" if _internal(address) else None


class PublicOnly(httpx.AsyncBaseTransport):
    """A transport that connects only to public addresses: it resolves the request's
    host, refuses (a ``ConnectError``) when any address is internal, and sends to the
    address it checked, keeping the name for the Host header and TLS."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        try:
            found = await asyncio.get_running_loop().getaddrinfo(
                host, request.url.port, type=socket.SOCK_STREAM
            )
        except OSError as exc:
            raise httpx.ConnectError(f"{host} does not resolve: {exc}", request=request) from exc
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in found]
        for address in addresses:
            if _internal(address):
                raise httpx.ConnectError(
                    f"{host} resolves to {address}, not a public address", request=request
                )
        request.url = request.url.copy_with(host=str(addresses[0]))
        request.extensions = {**request.extensions, "sni_hostname": host}
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()
