#!/usr/bin/env python3
"""An independent tollgate signer: prints one signed URL, in the `tg1` format of docs/token.md.

Written from docs/token.md alone, with the Python standard library only. It is the proof that
the document is enough to implement a signer; tests/python_signer.rs checks that its tokens are
exactly those of the gateway's own code, and other tests fetch its URLs through a real gateway.

    python3 tests/py/tollgate_sign.py --key B64KEY --kid ID --public-url URL --path RAWPATH \
        [--expires-in N] [--iat N] [--tid TID] [--nbf N] [--ip CIDR] [--max-views N] \
        [--methods GET,HEAD] [--prefix] [--download-name NAME] [--query K=V]... [--password-flag]

`--path`, `--download-name` and `--query` take unencoded text: this script encodes them (section 4
of the document). Defaults: `--iat` now, `--tid` 16 random bytes, `--expires-in` 3600,
`--methods GET,HEAD`.

    python3 tests/py/tollgate_sign.py --vectors

prints, one JSON object per line, the inputs and outputs of the signing vectors V1-V8 of
docs/token.md section 11.1, computed by this script.

Exit status: 0 and one URL on stdout; 2 and a message on stderr when an argument is refused.
"""

import argparse
import base64
import hashlib
import hmac
import ipaddress
import json
import re
import secrets
import sys
import time
import unicodedata

VERSION = "tg1"

# Section 3.2, field 7: the only method names, in the one order they are written.
METHOD_ORDER = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

# Section 4: RFC 3986 unreserved bytes.
UNRESERVED = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
)
PATH_KEEP = UNRESERVED | {ord("/")}

MAX_PATH_BYTES = 4096
MAX_TOKEN_LEN = 4096
MAX_NUMBER = 10**19 - 1  # section 3.1: at most 19 digits

KID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
B64URL_RE = re.compile(r"[A-Za-z0-9_-]*")


class Refused(Exception):
    """An input the format (or the gateway's minting rules) does not allow."""


# --- Encodings (sections 1 and 4) ------------------------------------------------------------


def b64(data: bytes) -> str:
    """base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64_decode_canonical(text: str) -> bytes:
    """Decodes base64url without padding, accepting only its canonical spelling."""
    if not B64URL_RE.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64(data) != text:
        raise ValueError("not canonical base64url (non-zero trailing bits)")
    return data


def percent_encode(text: str, keep: frozenset) -> str:
    """Every UTF-8 byte outside `keep` becomes %XX with upper-case hex."""
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise Refused(f"{text!r} is not valid Unicode text: {e}") from None
    return "".join(chr(b) if b in keep else "%{:02X}".format(b) for b in raw)


def encode_path(raw_path: str) -> str:
    """Section 4.1: the canonical path encoding (unreserved and `/` kept)."""
    return percent_encode(raw_path, PATH_KEEP)


def encode_component(text: str) -> str:
    """Section 4.2: the component encoding (unreserved kept, `/` encoded)."""
    return percent_encode(text, UNRESERVED)


# --- Claims (sections 2 and 3) ---------------------------------------------------------------


def decode_key(text: str) -> bytes:
    """Section 2: base64url, padding optional, surrounding whitespace ignored, >= 32 bytes."""
    text = text.strip().rstrip("=")
    try:
        key = b64_decode_canonical(text)
    except ValueError as e:
        raise Refused(f"--key: {e}") from None
    if len(key) < 32:
        raise Refused(f"--key decodes to {len(key)} bytes; at least 32 are required")
    return key


def check_kid(kid: str) -> str:
    if not KID_RE.fullmatch(kid):
        raise Refused("--kid must be 1 to 64 characters of A-Z, a-z, 0-9, - or _")
    return kid


def check_tid(tid: str) -> str:
    try:
        ok = len(tid) == 22 and len(b64_decode_canonical(tid)) == 16
    except ValueError:
        ok = False
    if not ok:
        raise Refused("--tid must be the base64url (no padding) of exactly 16 bytes")
    return tid


def number(value: int, what: str) -> str:
    if not 0 <= value <= MAX_NUMBER:
        raise Refused(f"{what} must be between 0 and {MAX_NUMBER}")
    return str(value)  # decimal, no sign, no leading zero


def canonical_methods(spec: str) -> str:
    """Section 3.2, field 7: a non-empty list, no repeats, written in the canonical order."""
    seen = set()
    for name in spec.split(","):
        name = name.strip()
        if name not in METHOD_ORDER:
            raise Refused(f"--methods: unknown method `{name}`")
        if name in seen:
            raise Refused(f"--methods: method `{name}` listed twice")
        seen.add(name)
    return ",".join(m for m in METHOD_ORDER if m in seen)


def check_admissible(raw_path: str, canonical: str) -> None:
    """Section 4.3, for a path given unencoded (its decoding is `raw_path` itself)."""
    if len(canonical.encode("ascii")) > MAX_PATH_BYTES:
        raise Refused("--path is too long")
    if not raw_path.startswith("/"):
        raise Refused("--path must start with `/`")
    if "\\" in raw_path:
        raise Refused("--path must not contain a backslash")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in raw_path):
        raise Refused("--path must not contain a control character")
    segments = raw_path.split("/")[1:]
    for i, seg in enumerate(segments):
        if seg in (".", ".."):
            raise Refused("--path must not contain a `.` or `..` segment")
        if seg == "" and i != len(segments) - 1:
            raise Refused("--path must not contain an empty segment (`//`)")


def format_ipv6(addr: ipaddress.IPv6Address) -> str:
    """Section 3.2, field 10: RFC 5952, with a dotted tail for IPv4-mapped addresses."""
    value = int(addr)
    if value >> 32 == 0xFFFF:  # ::ffff:0:0/96
        return "::ffff:" + str(ipaddress.IPv4Address(value & 0xFFFFFFFF))
    groups = [(value >> (16 * (7 - i))) & 0xFFFF for i in range(8)]
    # The longest run of two or more zero groups, the first one on a tie.
    best_start, best_len = -1, 0
    i = 0
    while i < 8:
        if groups[i] == 0:
            j = i
            while j < 8 and groups[j] == 0:
                j += 1
            if j - i > best_len:
                best_start, best_len = i, j - i
            i = j
        else:
            i += 1
    hexes = ["{:x}".format(g) for g in groups]
    if best_len < 2:
        return ":".join(hexes)
    head = ":".join(hexes[:best_start])
    tail = ":".join(hexes[best_start + best_len :])
    return head + "::" + tail


def canonical_ip(spec: str) -> str:
    """An address or CIDR, truncated to its network, written as section 3.2 field 10 says."""
    spec = spec.strip()
    if "%" in spec:
        raise Refused("--ip must not carry a zone index")
    try:
        net = ipaddress.ip_network(spec, strict=False)
    except ValueError:
        raise Refused(f"--ip `{spec}` is not an IP address or CIDR") from None
    if net.version == 4:
        text = str(net.network_address)
    else:
        text = format_ipv6(net.network_address)
    return f"{text}/{net.prefixlen}"


def check_download_name(name: str) -> str:
    if name == "":
        raise Refused("--download-name must not be empty")
    if any(unicodedata.category(c) == "Cc" for c in name):
        raise Refused("--download-name must not contain control characters")
    return encode_component(name)


def query_rest(pairs) -> str:
    """Section 6 step 5: component(key) "=" component(value), in order, joined by "&"."""
    parts = []
    for key, value in pairs:
        if key == "" or key == "token":
            raise Refused("--query names must not be empty or `token`")
        parts.append(encode_component(key) + "=" + encode_component(value))
    return "&".join(parts)


# --- Minting (sections 5 and 6) --------------------------------------------------------------


def sign(
    *,
    key,
    kid,
    public_url,
    path,
    expires_in=3600,
    iat=None,
    tid=None,
    nbf=None,
    ip=None,
    max_views=None,
    methods="GET,HEAD",
    prefix=False,
    download_name=None,
    query=(),
    password=False,
):
    """Returns a dict with the claims block, query_rest, MAC (hex), token and URL."""
    key_bytes = decode_key(key)
    check_kid(kid)
    canonical = encode_path(path)
    check_admissible(path, canonical)
    if prefix and not path.endswith("/"):
        raise Refused("--prefix needs a --path that ends with `/`")
    if expires_in < 1:
        raise Refused("--expires-in must be at least 1")
    if max_views is not None and max_views < 1:
        raise Refused("--max-views must be greater than 0")
    if iat is None:
        iat = int(time.time())
    if tid is None:
        tid = b64(secrets.token_bytes(16))
    check_tid(tid)

    fields = [
        VERSION,
        kid,
        tid,
        number(iat, "--iat"),
        number(iat + expires_in, "--iat + --expires-in"),
        "" if nbf is None else number(nbf, "--nbf"),
        canonical_methods(methods),
        "p" if prefix else "f",
        canonical,
        "" if ip is None else canonical_ip(ip),
        "" if max_views is None else number(max_views, "--max-views"),
        "" if download_name is None else check_download_name(download_name),
        "pw" if password else "",
    ]
    claims = "\n".join(fields)
    rest = query_rest(query)

    claims_bytes = claims.encode("ascii")  # every field is ASCII by construction
    mac = hmac.new(
        key_bytes, claims_bytes + b"\n" + rest.encode("ascii"), hashlib.sha256
    ).digest()
    token = b64(claims_bytes) + "." + b64(mac)
    if len(token) > MAX_TOKEN_LEN:
        raise Refused(f"the token would be longer than {MAX_TOKEN_LEN} characters")

    base = public_url.rstrip("/")
    sep = "&" if rest else ""
    url = f"{base}{canonical}?{rest}{sep}token={token}"
    return {
        "claims": claims,
        "query_rest": rest,
        "mac": mac.hex(),
        "token": token,
        "url": url,
    }


# --- The vectors of docs/token.md section 11.1 -----------------------------------------------

KEY_K1 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
KEY_B = "oKGio6SlpqeoqaqrrK2ur7CxsrO0tba3uLm6u7y9vr_AwcLDxMXGx8jJysvMzc7P"
IAT = 1700000000


def _vector(name, n, **kw):
    inputs = dict(
        key=KEY_K1,
        kid="k1",
        public_url="https://files.example.com",
        tid=b64(b"tollgate-test-v%d" % n),
        iat=IAT,
        expires_in=3600,
        nbf=None,
        methods="GET,HEAD",
        prefix=False,
        ip=None,
        max_views=None,
        download_name=None,
        query=[],
        password=False,
    )
    inputs.update(kw)
    return name, inputs


VECTORS = [
    _vector("V1", 1, path="/files/report.pdf"),
    _vector(
        "V2",
        2,
        path="/files/q3/summary.csv",
        expires_in=86400,
        nbf=IAT + 3600,
        ip="203.0.113.0/24",
        max_views=3,
    ),
    _vector(
        "V3",
        3,
        path="/files/q3/",
        prefix=True,
        expires_in=604800,
        ip="2001:db8:1234::/48",
    ),
    _vector(
        "V4",
        4,
        path="/files/report.pdf",
        download_name="Jahresbericht M\u00e4rz 2024 (endg\u00fcltig) \U0001f4c4.pdf",
    ),
    _vector(
        "V5",
        5,
        path="/files/video.mp4",
        methods="GET",
        query=[["v", "2"], ["lang", "fr CA"]],
    ),
    _vector("V6", 6, path="/files/contract.pdf", max_views=1, password=True),
    _vector(
        "V7",
        7,
        path="/files/My Report (2024) \u2013 caf\u00e9/na\u00efve ~draft_1.0.pdf",
    ),
    _vector(
        "V8",
        8,
        key=KEY_B,
        kid="2024-q1_b",
        path="/uploads/inbox/a+b=c&d.txt",
        expires_in=300,
        nbf=IAT,
        methods="DELETE,PUT,GET,HEAD",
        ip="2001:db8::7",
        max_views=5,
        download_name='r\u00e9sum\u00e9 "final"; v2.txt',
        query=[["sig", "a/b+c"], ["x", ""]],
        password=True,
    ),
]


def print_vectors() -> None:
    for name, inputs in VECTORS:
        out = sign(**inputs)
        print(json.dumps({"name": name, **inputs, **out}, sort_keys=True))


# --- Command line ----------------------------------------------------------------------------


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="tollgate_sign.py",
        description="Print one tollgate signed URL (tg1 tokens, docs/token.md).",
    )
    p.add_argument("--vectors", action="store_true", help="print the document's vectors")
    p.add_argument("--key", help="signing key secret, base64url (>= 32 bytes)")
    p.add_argument("--kid", help="key id")
    p.add_argument("--public-url", help="e.g. https://files.example.com")
    p.add_argument("--path", help="raw, unencoded path, e.g. '/files/my report.pdf'")
    p.add_argument("--expires-in", type=int, default=3600, help="seconds (default 3600)")
    p.add_argument("--iat", type=int, help="issued-at, unix seconds (default: now)")
    p.add_argument("--tid", help="token id, base64url of 16 bytes (default: random)")
    p.add_argument("--nbf", type=int, help="not-before, unix seconds")
    p.add_argument("--ip", help="client address or CIDR")
    p.add_argument("--max-views", type=int)
    p.add_argument("--methods", default="GET,HEAD", help="comma-separated (default GET,HEAD)")
    p.add_argument("--prefix", action="store_true", help="sign every path under --path")
    p.add_argument("--download-name", help="Content-Disposition file name, unencoded")
    p.add_argument(
        "--query",
        action="append",
        default=[],
        metavar="K=V",
        help="extra query parameter, unencoded; bound by the token; repeatable, kept in order",
    )
    p.add_argument("--password-flag", action="store_true", help="set the `pw` flag")
    a = p.parse_args(argv)

    if a.vectors:
        print_vectors()
        return 0
    try:
        missing = [
            f"--{n.replace('_', '-')}"
            for n in ("key", "kid", "public_url", "path")
            if getattr(a, n) is None
        ]
        if missing:
            raise Refused(f"missing {', '.join(missing)}")
        query = []
        for q in a.query:
            if "=" not in q:
                raise Refused(f"--query `{q}` must be K=V")
            query.append(q.split("=", 1))
        out = sign(
            key=a.key,
            kid=a.kid,
            public_url=a.public_url,
            path=a.path,
            expires_in=a.expires_in,
            iat=a.iat,
            tid=a.tid,
            nbf=a.nbf,
            ip=a.ip,
            max_views=a.max_views,
            methods=a.methods,
            prefix=a.prefix,
            download_name=a.download_name,
            query=query,
            password=a.password_flag,
        )
    except Refused as e:
        print(f"tollgate_sign: {e}", file=sys.stderr)
        return 2
    print(out["url"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
