"""Frames and plain-data values crossing the pipes between the grader, the judge and the candidate.

Runs in the sandboxed children (imported once by the launcher, before any of them is forked) and in
the tests. Stdlib only, no import at module level beyond ``os``: everything here is on the path of
every call the judge makes to the candidate.
"""

import os

MAX_DEPTH = 100  # nesting of a value crossing the candidate -> judge pipe


# --------------------------------------------------------------------------- framing


def _read_exact(fd, size):
    chunks = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def read_frame(fd, cap):
    """One length-prefixed frame, or None on EOF or a frame larger than ``cap``."""
    head = _read_exact(fd, 4)
    if head is None:
        return None
    size = int.from_bytes(head, "big")
    if size > cap:
        return None
    return _read_exact(fd, size) if size else b""


def write_frame(fd, payload):
    data = memoryview(len(payload).to_bytes(4, "big") + payload)
    while data:
        written = os.write(fd, data)
        data = data[written:]


# --------------------------------------------------------------------------- value codec
#
# Tag-length-value, ASCII headers: N T F (None, True, False); i<n>:<hex> int; f<n>:<float.hex>;
# c<n>:<float.hex>,<float.hex> complex; s<n>:<utf-8> str; b<n>:<bytes>; l/t/S/Z<count>: list, tuple,
# set, frozenset; d<count>: dict (key, value, ...). Hex ints and float.hex are exact and need no
# import; the decoder is plain Python with bounds on every length, count and depth.


def encode_value(value, out, depth=0):
    """Appends the encoding of ``value`` to the list ``out``; TypeError for anything that is not
    plain data (subclasses of the builtin types are converted to the builtin type)."""
    if depth > MAX_DEPTH:
        raise ValueError("value nested too deeply")
    if value is None:
        out.append(b"N")
    elif value is True:
        out.append(b"T")
    elif value is False:
        out.append(b"F")
    elif isinstance(value, int):
        text = b"%x" % int(value)
        out.append(b"i%d:%s" % (len(text), text))
    elif isinstance(value, float):
        text = float.hex(float(value)).encode("ascii")
        out.append(b"f%d:%s" % (len(text), text))
    elif isinstance(value, complex):
        text = (float.hex(value.real) + "," + float.hex(value.imag)).encode("ascii")
        out.append(b"c%d:%s" % (len(text), text))
    elif isinstance(value, str):
        data = str.__str__(value).encode("utf-8", "surrogatepass")
        out.append(b"s%d:" % len(data))
        out.append(data)
    elif isinstance(value, (bytes, bytearray)):
        data = bytes(value)
        out.append(b"b%d:" % len(data))
        out.append(data)
    elif isinstance(value, (list, tuple, set, frozenset)):
        if isinstance(value, list):
            tag = b"l"
        elif isinstance(value, tuple):
            tag = b"t"
        elif isinstance(value, set):
            tag = b"S"
        else:
            tag = b"Z"
        items = list(value)
        out.append(tag + b"%d:" % len(items))
        for item in items:
            encode_value(item, out, depth + 1)
    elif isinstance(value, dict):
        items = list(dict.items(value))
        out.append(b"d%d:" % len(items))
        for key, item in items:
            encode_value(key, out, depth + 1)
            encode_value(item, out, depth + 1)
    else:
        raise TypeError(f"return value of type {type(value).__name__} is not plain data")


def _length(data, pos):
    end = data.find(b":", pos, pos + 21)
    if end < 0:
        raise ValueError("bad length")
    digits = data[pos:end]
    if not digits.isdigit():
        raise ValueError("bad length")
    return int(digits), end + 1


_HEX = frozenset(b"0123456789abcdef")
_FLOAT = frozenset(b"0123456789abcdefxpinf.+-")


def _decode(data, pos, depth):
    if depth > MAX_DEPTH:
        raise ValueError("value nested too deeply")
    if pos >= len(data):
        raise ValueError("truncated value")
    tag = data[pos : pos + 1]
    pos += 1
    if tag == b"N":
        return None, pos
    if tag == b"T":
        return True, pos
    if tag == b"F":
        return False, pos
    if tag in (b"i", b"f", b"c", b"s", b"b"):
        size, pos = _length(data, pos)
        end = pos + size
        if end > len(data):
            raise ValueError("truncated value")
        raw = data[pos:end]
        if tag == b"i":
            body = raw[1:] if raw[:1] == b"-" else raw
            if not body or not _HEX.issuperset(body):
                raise ValueError("bad int")
            return int(raw, 16), end
        if tag == b"s":
            return raw.decode("utf-8", "surrogatepass"), end
        if tag == b"b":
            return bytes(raw), end
        if not _FLOAT.issuperset(raw.replace(b",", b"")):
            raise ValueError("bad float")
        if tag == b"f":
            return float.fromhex(raw.decode("ascii")), end
        real, sep, imag = raw.decode("ascii").partition(",")
        if not sep:
            raise ValueError("bad complex")
        return complex(float.fromhex(real), float.fromhex(imag)), end
    if tag in (b"l", b"t", b"S", b"Z", b"d"):
        count, pos = _length(data, pos)
        if count > len(data) - pos:  # every item takes at least one byte
            raise ValueError("bad count")
        if tag == b"d":
            result = {}
            for _ in range(count):
                key, pos = _decode(data, pos, depth + 1)
                value, pos = _decode(data, pos, depth + 1)
                result[key] = value  # TypeError for an unhashable key
            return result, pos
        items = []
        for _ in range(count):
            item, pos = _decode(data, pos, depth + 1)
            items.append(item)
        if tag == b"l":
            return items, pos
        if tag == b"t":
            return tuple(items), pos
        return (set(items) if tag == b"S" else frozenset(items)), pos
    raise ValueError("bad tag")


def decode_value(data):
    """The value encoded in ``data`` (bytes); ValueError/TypeError for anything malformed."""
    value, pos = _decode(data, 0, 0)
    if pos != len(data):
        raise ValueError("trailing bytes")
    return value
