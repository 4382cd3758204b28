"""memscan.py PID DEK_FILE DATASET_DIR: derives the manifest key and every file key from the DEK
and the salts in the dataset (docs/FORMAT.md), then reads the process's writable memory and
prints one line per secret found: "dek", "manifest", or "file BLOB". Root reads any process's
memory through /proc/PID/mem. Mappings larger than 4 GiB (a sanitizer's shadow) are skipped."""
import os
import re
import sys

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def hkdf(ikm, salt, info):
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


def secrets(dek, ds):
    out = {"dek": dek}
    with open(os.path.join(ds, "manifest.ccrfs"), "rb") as f:
        out["manifest"] = hkdf(dek, f.read(56)[24:56], b"ccrfs/v1/manifest")
    blobs = os.path.join(ds, "blobs")
    for name in sorted(os.listdir(blobs)):
        with open(os.path.join(blobs, name), "rb") as f:
            out["file " + name] = hkdf(dek, f.read(56)[24:56], b"ccrfs/v1/blob")
    return out


def regions(pid):
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+)", line)
            lo, hi, perms = int(m.group(1), 16), int(m.group(2), 16), m.group(3)
            if perms[0] == "r" and perms[1] == "w" and hi - lo <= (4 << 30) and "[vvar" not in line:
                yield lo, hi


def main():
    pid = int(sys.argv[1])
    dek = open(sys.argv[2], "rb").read()
    want = secrets(dek, sys.argv[3])
    found = set()
    with open("/proc/%d/mem" % pid, "rb", buffering=0) as mem:
        for lo, hi in regions(pid):
            pos = lo
            tail = b""
            while pos < hi:
                n = min(hi - pos, 16 << 20)
                try:
                    mem.seek(pos)
                    chunk = mem.read(n)
                except OSError:
                    chunk = b""
                if not chunk:
                    break
                data = tail + chunk
                for label, key in want.items():
                    if label not in found and key in data:
                        found.add(label)
                tail = data[-31:]
                pos += len(chunk)
    for label in sorted(found):
        print(label)
    print("scanned %d secrets" % len(want), file=sys.stderr)


main()
