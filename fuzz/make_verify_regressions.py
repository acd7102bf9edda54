#!/usr/bin/env python3
"""Writes the hand-crafted hostile zips under fuzz/regressions/bundle_verify/ that are not
produced by fuzzing. Each is a bundle whose MANIFEST.json is consistent except for the one defect
its name says, so `mmops bundle verify` must report exactly that defect. Run from the repository
root; the output is deterministic (fixed times, no randomness)."""

import hashlib
import json
import struct
import zlib
from pathlib import Path

OUT = Path("fuzz/regressions/bundle_verify")
TIME, DATE = 0, (45 << 9) | (10 << 5) | 11  # 2025-10-11 00:00


def manifest(files):
    return json.dumps({
        "version": "1.0.0",
        "created_at": "2025-10-11T00:00:00Z",
        "files": [{"path": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
                   "description": "x"} for name, data in files],
    }, indent=2).encode() + b"\n"


def build(entries, prefix=b"", descriptor_missing=False):
    """entries: (raw name, data, mode, utf8 flag). Stored, no descriptors unless asked."""
    out = bytearray(prefix)
    central = bytearray()
    for name, data, mode, utf8 in entries:
        flags = (1 << 11 if utf8 else 0) | (1 << 3 if descriptor_missing and name == b"VERSION" else 0)
        crc = zlib.crc32(data)
        offset = len(out) - len(prefix)  # offsets as if nothing were prepended
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 10, flags, 0, TIME, DATE, crc, len(data),
                           len(data), len(name), 0) + name + data
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 3 << 8 | 20, 10, flags, 0, TIME,
                               DATE, crc, len(data), len(data), len(name), 0, 0, 0, 0, mode << 16,
                               offset) + name
    start = len(out) - len(prefix)
    out += central
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(central),
                       start, 0)
    return bytes(out)


def bundle(files, modes=None, utf8=True, **options):
    modes = modes or {}
    entries = [(name.encode("utf-8", "surrogateescape") if isinstance(name, str) else name, data,
                modes.get(name, 0o100644), utf8) for name, data in files]
    listed = [(n.decode("utf-8", "replace") if isinstance(n, bytes) else n, d) for n, d in files]
    entries.append((b"MANIFEST.json", manifest(listed), 0o100644, utf8))
    return build(entries, **options)


def overlapping():
    """200 central entries pointing at one deflate stream of 64 MiB of zeros."""
    data = zlib.compressobj(9, zlib.DEFLATED, -15)
    stream = data.compress(b"\0" * (64 << 20)) + data.flush()
    crc, size = zlib.crc32(b"\0" * (64 << 20)), 64 << 20
    name = b"bomb"
    out = bytearray(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, TIME, DATE, crc, len(stream),
                                size, len(name), 0) + name + stream)
    central = bytearray()
    for index in range(200):
        entry = b"bomb%03d" % index
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 3 << 8 | 20, 20, 0, 8, TIME, DATE,
                               crc, len(stream), size, len(entry), 0, 0, 0, 0, 0o100644 << 16,
                               0) + entry
    start = len(out)
    out += central + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 200, 200, len(central), start, 0)
    return bytes(out)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    version = [("VERSION", b"1.0.0\n")]
    cases = {
        # Two raw names the manifest's one U+FFFD name stands for; no UTF-8 flag.
        "invalid_utf8_names.zip": bundle([(b"a\xff", b"same\n"), (b"a\xfe", b"same\n")], utf8=False),
        # The same names with the UTF-8 flag set: still not UTF-8.
        "invalid_utf8_names_flagged.zip": bundle([(b"a\xff", b"x\n")]),
        # Non-ASCII (valid UTF-8) without the flag: CP437 readers see another name.
        "non_ascii_without_utf8_flag.zip": bundle([("caf\u00e9.txt", b"x\n")], utf8=False),
        "symlink_entry.zip": bundle(version + [("link", b"/etc/passwd")], modes={"link": 0o120777}),
        "setuid_entry.zip": bundle(version + [("run.sh", b"#!/bin/sh\n")], modes={"run.sh": 0o104755}),
        "device_entry.zip": bundle(version + [("null", b"")], modes={"null": 0o020666}),
        "data_descriptor_flag_without_descriptor.zip": bundle(version, descriptor_missing=True),
        "prepended_bytes.zip": bundle(version, prefix=b"#!/bin/sh\nexit 0\n"),
        "overlapping_entries.zip": overlapping(),
    }
    for name, data in cases.items():
        (OUT / name).write_bytes(data)


if __name__ == "__main__":
    main()
