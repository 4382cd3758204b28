#!/usr/bin/env python3
"""An independent reader of the ccrfs v1 format, written from docs/FORMAT.md alone.

It decrypts a dataset folder with the python3 'cryptography' package and prints one line
per entry, so tests can check that the C implementation and the document agree byte for byte.

usage: format_ref.py KEYFILE DATASET_DIR [--extract DEST]
       format_ref.py --kat     (prints the known-answer values of docs/FORMAT.md)
"""
import hashlib
import os
import struct
import sys

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

BLOB_MAGIC = b"CCRFSBLB"
MANIFEST_MAGIC = b"CCRFSMAN"


def hkdf(dek, salt, info):
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(dek)


def nonce(flag, index):
    return bytes([flag, 0, 0, 0]) + struct.pack(">Q", index)


def blob_header(dek, log2, length, salt):
    auth = BLOB_MAGIC + struct.pack("<HBBIQ", 1, 1, log2, 0, length) + salt
    key = hkdf(dek, salt, b"ccrfs/v1/blob")
    tag = AESGCM(key).encrypt(nonce(2, 0), b"", auth)
    return auth + tag, key


def blob_encrypt(dek, log2, plain, salt):
    header, key = blob_header(dek, log2, len(plain), salt)
    bs = 1 << log2
    n = (len(plain) + bs - 1) // bs
    out = bytearray(header)
    for i in range(n):
        flag = 1 if i == n - 1 else 0
        out += AESGCM(key).encrypt(nonce(flag, i), plain[i * bs:(i + 1) * bs], header)
    return bytes(out)


def blob_decrypt(dek, data):
    header = data[:72]
    if header[:8] != BLOB_MAGIC:
        raise ValueError("bad blob magic")
    version, alg, log2, reserved, length = struct.unpack("<HBBIQ", header[8:24])
    if (version, alg, reserved) != (1, 1, 0) or not 12 <= log2 <= 20:
        raise ValueError("bad blob header")
    salt = header[24:56]
    key = hkdf(dek, salt, b"ccrfs/v1/blob")
    AESGCM(key).decrypt(nonce(2, 0), header[56:72], header[:56])
    bs = 1 << log2
    n = (length + bs - 1) // bs
    if len(data) != 72 + length + 16 * n:
        raise ValueError("blob size does not match its header")
    plain = bytearray()
    off = 72
    for i in range(n):
        clen = min(bs, length - i * bs)
        flag = 1 if i == n - 1 else 0
        plain += AESGCM(key).decrypt(nonce(flag, i), data[off:off + clen + 16], header)
        off += clen + 16
    return bytes(plain), salt, header[56:72]


def manifest_seal(dek, payload, salt):
    header = MANIFEST_MAGIC + struct.pack("<HBBIQ", 1, 1, 0, 0, len(payload)) + salt
    key = hkdf(dek, salt, b"ccrfs/v1/manifest")
    return header + AESGCM(key).encrypt(bytes([3]) + bytes(11), payload, header)


def manifest_open(dek, obj):
    header = obj[:56]
    if header[:8] != MANIFEST_MAGIC:
        raise ValueError("bad manifest magic")
    version, alg, r1, r2, plen = struct.unpack("<HBBIQ", header[8:24])
    if (version, alg, r1, r2) != (1, 1, 0, 0) or plen != len(obj) - 56 - 16:
        raise ValueError("bad manifest header")
    key = hkdf(dek, header[24:56], b"ccrfs/v1/manifest")
    return AESGCM(key).decrypt(bytes([3]) + bytes(11), obj[56:], header)


def parse_payload(p):
    (count,) = struct.unpack_from("<I", p, 0)
    o = 4
    entries = []
    for _ in range(count):
        (plen,) = struct.unpack_from("<H", p, o)
        path = p[o + 2:o + 2 + plen].decode("utf-8", "surrogateescape")
        o += 2 + plen
        etype, mode, size, mtime, nsec = struct.unpack_from("<BIQqI", p, o)
        o += 25
        e = {"path": path, "type": etype, "mode": mode, "size": size, "mtime": mtime, "nsec": nsec}
        if etype == 1:
            log2, blen = p[o], p[o + 1]
            e["log2"] = log2
            e["blob"] = p[o + 2:o + 2 + blen].decode()
            o += 2 + blen
            e["salt"], e["tag"], e["sha256"] = p[o:o + 32], p[o + 32:o + 48], p[o + 48:o + 80]
            o += 80
        entries.append(e)
    if o != len(p):
        raise ValueError("trailing bytes in manifest payload")
    return entries


def kat():
    dek = bytes(range(32))
    salt = bytes(range(0xA0, 0xC0))
    plain = bytes(i * 7 % 251 for i in range(5000))
    blob = blob_encrypt(dek, 12, plain, salt)
    print("blob_head24", blob[:24].hex())
    print("blob_header_tag", blob[56:72].hex())
    print("blob_sha256", hashlib.sha256(blob).hexdigest())
    # The manifest of docs/FORMAT.md's example: folder "d", file "d/f.bin" holding the blob above.
    payload = struct.pack("<I", 2)
    payload += struct.pack("<H", 1) + b"d" + struct.pack("<BIQqI", 2, 0o755, 0, 1700000000, 0)
    payload += struct.pack("<H", 7) + b"d/f.bin" + struct.pack("<BIQqI", 1, 0o644, 5000, 1700000000, 5)
    payload += bytes([12, 32]) + b"0123456789abcdef0123456789abcdef" + salt + blob[56:72]
    payload += hashlib.sha256(plain).digest()
    msalt = bytes(range(0x40, 0x60))
    obj = manifest_seal(dek, payload, msalt)
    print("manifest_payload_sha256", hashlib.sha256(payload).hexdigest())
    print("dataset_id", "sha256:" + hashlib.sha256(obj).hexdigest())


def main():
    if sys.argv[1:] == ["--kat"]:
        kat()
        return 0
    keyfile, dataset = sys.argv[1], sys.argv[2]
    extract = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--extract" else None
    dek = open(keyfile, "rb").read()
    obj = open(os.path.join(dataset, "manifest.ccrfs"), "rb").read()
    print("dataset_id sha256:" + hashlib.sha256(obj).hexdigest())
    for e in parse_payload(manifest_open(dek, obj)):
        if e["type"] == 2:
            print("dir %o %s" % (e["mode"], e["path"]))
            if extract:
                os.makedirs(os.path.join(extract, e["path"]), exist_ok=True)
            continue
        data = open(os.path.join(dataset, "blobs", e["blob"]), "rb").read()
        plain, salt, tag = blob_decrypt(dek, data)
        if salt != e["salt"] or tag != e["tag"] or len(plain) != e["size"]:
            raise ValueError("blob does not match its manifest entry: " + e["path"])
        if hashlib.sha256(plain).digest() != e["sha256"]:
            raise ValueError("sha256 mismatch: " + e["path"])
        print("file %o %d %s %s" % (e["mode"], e["size"], hashlib.sha256(plain).hexdigest(), e["path"]))
        if extract:
            with open(os.path.join(extract, e["path"]), "wb") as f:
                f.write(plain)
    return 0


if __name__ == "__main__":
    sys.exit(main())
