#!/usr/bin/env python3
"""Unpack a .deb's files into a directory (what `dpkg-deb -x` does), for
machines without dpkg. A .deb is an ar archive holding data.tar.*.
usage: unpack_deb.py PKG.deb DIR"""
import io
import sys
import tarfile

deb, dest = sys.argv[1], sys.argv[2]
with open(deb, "rb") as f:
    blob = f.read()
assert blob[:8] == b"!<arch>\n", f"{deb}: not an ar archive"
pos = 8
while pos < len(blob):
    name = blob[pos:pos + 16].decode().strip().rstrip("/")
    size = int(blob[pos + 48:pos + 58].decode().strip())
    body = blob[pos + 60:pos + 60 + size]
    if name.startswith("data.tar"):
        with tarfile.open(fileobj=io.BytesIO(body)) as t:
            t.extractall(dest)
        break
    pos += 60 + size + (size & 1)
