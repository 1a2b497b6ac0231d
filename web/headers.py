"""Security headers on every response (added by the one edge middleware, web.health)."""

from __future__ import annotations

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def security_headers(*, https: bool) -> list[tuple[bytes, bytes]]:
    """CSP without inline script or style, no referrer, no sniffing, no framing; HSTS when
    the service is served over https. As raw ASGI header pairs."""
    headers = {
        "content-security-policy": CSP,
        "referrer-policy": "no-referrer",
        "x-content-type-options": "nosniff",
        "x-frame-options": "DENY",
    }
    if https:
        headers["strict-transport-security"] = "max-age=31536000; includeSubDomains"
    return [(name.encode(), value.encode()) for name, value in headers.items()]
