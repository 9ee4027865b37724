"""The ``email`` and ``idn-email`` formats, checked as the address syntax RFC 5321 (and RFC 6531)
defines instead of jsonschema's own check, which accepts any string containing ``@``: a policy
would learn that ``"@"`` is an email address.

A mailbox is ``local-part@domain``, at most 254 characters:
  * the local part (at most 64 octets) is dot-separated atoms of letters, digits and
    ``!#$%&'*+-/=?^_`{|}~``, or a quoted string;
  * the domain is a host name (labels of letters, digits and inner hyphens, 1 to 63 characters
    each, at most 253 in all) or an address literal (``[192.0.2.1]``, ``[IPv6:2001:db8::1]``).
``idn-email`` also allows non-ASCII characters in the local part and an internationalised domain
(encoded with the standard library's IDNA codec before the host-name check). Standard library
only, and every pattern is linear.
"""

from __future__ import annotations

import ipaddress
import re

_ATEXT = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~-"
_DOT_STRING = re.compile(rf"[{_ATEXT}]++(?:\.[{_ATEXT}]++)*+")
_QUOTED = re.compile(r'"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e])*+"')
_DOT_STRING_INTL = re.compile(rf"(?:[{_ATEXT}]|[^\x00-\x7f])++(?:\.(?:[{_ATEXT}]|[^\x00-\x7f])++)*+")
_QUOTED_INTL = re.compile(r'"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|[^\x00-\x7f]|\\[\x20-\x7e])*+"')
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def _is_host_name(domain: str) -> bool:
    return 0 < len(domain) <= 253 and all(_LABEL.fullmatch(label) for label in domain.split("."))


def _is_address_literal(domain: str) -> bool:
    if not (domain.startswith("[") and domain.endswith("]")):
        return False
    inner = domain[1:-1]
    try:
        if inner[:5].lower() == "ipv6:":
            ipaddress.IPv6Address(inner[5:])
        else:
            ipaddress.IPv4Address(inner)
    except ValueError:
        return False
    return True


def is_mailbox(address: str, *, international: bool = False) -> bool:
    """True when ``address`` is an RFC 5321 mailbox (RFC 6531 with ``international``)."""
    if len(address) > 254:
        return False
    local, at, domain = address.rpartition("@")
    if not at or not local or len(local.encode("utf-8", "surrogatepass")) > 64:
        return False
    dot_string, quoted = (_DOT_STRING_INTL, _QUOTED_INTL) if international else (_DOT_STRING, _QUOTED)
    if not (dot_string.fullmatch(local) or quoted.fullmatch(local)):
        return False
    if _is_address_literal(domain):
        return True
    if international and not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            return False
    return _is_host_name(domain)


def check_email(instance: object) -> bool:
    """jsonschema format function for ``email`` (non-strings pass, as for every format)."""
    return not isinstance(instance, str) or is_mailbox(instance)


def check_idn_email(instance: object) -> bool:
    """jsonschema format function for ``idn-email``."""
    return not isinstance(instance, str) or is_mailbox(instance, international=True)
