#!/usr/bin/env python3
"""A local STAND-IN for the Azure confidential-sidecar SKR API, for tests only.

It is not the real sidecar and does no attestation: it answers POST /key/release
({"maa_endpoint", "akv_endpoint", "kid"}) with {"key": "<JWK as a JSON string>"} for a key it
holds, the way the sidecar answers after Microsoft Azure Attestation and Key Vault released
it, and with 403 {"error": ...} otherwise. GET /status answers {"message": "Status OK"}.
Like the sidecar, it takes the endpoints as bare host names (it would build https://%s/...):
a missing or empty one is a 400 whose "error" is {} (the sidecar's binding error serializes
so), a URL is a 403 from the failed lookup of host "https:".

  skr_standin.py --keys-dir DIR --port-file FILE [--require-maa HOST] [--kty-suffix -HSM]
DIR holds KID.pem (an RSA or EC private key; the JWK is built with the openssl command) or
KID.oct (raw bytes of a symmetric key, answered as {"kty":"oct","k"}). The sidecar writes
RSA-HSM / EC-HSM / oct-HSM keys with the plain kty; --kty-suffix appends one anyway.
Listens on 127.0.0.1, on an ephemeral port written to FILE.
"""
import argparse
import base64
import json
import os
import re
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def b64url(n):
    raw = n.to_bytes((n.bit_length() + 7) // 8 or 1, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64url_bytes(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def hex_block(text, label):
    m = re.search(label + r":\s*\n((?:\s+[0-9a-f:]+\n)+)", text)
    return bytes.fromhex(re.sub(r"[^0-9a-f]", "", m.group(1)))


def ec_jwk_from_pem(path, text):
    curves = {"P-256": 32, "P-384": 48, "P-521": 66}
    crv = re.search(r"NIST CURVE: (P-\d+)", text).group(1)
    size = curves[crv]
    priv = hex_block(text, "priv")
    priv = priv[-size:].rjust(size, b"\0")
    pub = hex_block(text, "pub")
    return {"crv": crv, "d": b64url_bytes(priv), "kty": "EC", "x": b64url_bytes(pub[1:1 + size]),
            "y": b64url_bytes(pub[1 + size:])}


def jwk_from_pem(path):
    text = subprocess.run(["openssl", "pkey", "-in", path, "-noout", "-text"], check=True,
                          capture_output=True, text=True).stdout
    if "NIST CURVE" in text:
        return ec_jwk_from_pem(path, text)
    fields = {}
    for name, label in [("n", "modulus"), ("d", "privateExponent"), ("p", "prime1"), ("q", "prime2"),
                        ("dp", "exponent1"), ("dq", "exponent2"), ("qi", "coefficient")]:
        m = re.search(label + r":\s*\n((?:\s+[0-9a-f:]+\n)+)", text)
        fields[name] = int(re.sub(r"[^0-9a-f]", "", m.group(1)), 16)
    e = int(re.search(r"publicExponent: (\d+)", text).group(1))
    jwk = {"kty": "RSA", "e": b64url(e)}
    jwk.update({k: b64url(v) for k, v in fields.items()})
    return jwk


# The sidecar appends this paragraph to every error (pkg/skr/skr.go ERROR_STRING).
ERROR_STRING = """ERROR: Please refer to the documentation for more information on how to use this sidecar.
ACI: https://github.com/microsoft/confidential-sidecar-containers/blob/main/examples/skr/aci/README.md
KATA: https://github.com/microsoft/confidential-sidecar-containers/blob/main/examples/skr/aks/README.md
Troubleshooting: https://github.com/microsoft/confidential-sidecar-containers/blob/main/examples/skr/TROUBLESHOOTING.md"""


class Handler(BaseHTTPRequestHandler):
    server_version = "skr-standin"

    def log_message(self, fmt, *args):  # keep key material out of any log: log the path only
        sys.stderr.write("skr-standin: %s %s\n" % (self.command, self.path))

    def reply(self, status, obj):
        if status >= 400 and isinstance(obj.get("error"), str):
            obj = {"error": obj["error"] + "\n" + ERROR_STRING}
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/status":
            self.reply(200, {"message": "Status OK"})
        else:
            self.reply(404, {"error": "no such endpoint"})

    def do_POST(self):
        if self.path != "/key/release":
            return self.reply(404, {"error": "no such endpoint"})
        try:
            req = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            kid = req["kid"]
        except (ValueError, KeyError, TypeError):
            return self.reply(400, {"error": "expected JSON with maa_endpoint, akv_endpoint and kid"})
        args = self.server.args
        if not req.get("maa_endpoint") or not req.get("akv_endpoint") or not kid:
            return self.reply(400, {"error": {}})
        for name in ("maa_endpoint", "akv_endpoint"):
            if "/" in req[name]:
                return self.reply(403, {"error": "secure key release failed: attestation failed: "
                                        "dial tcp: lookup https: no such host (%s must be a host name)" % name})
        if args.require_maa and req.get("maa_endpoint") != args.require_maa:
            return self.reply(403, {"error": "attestation failed: MAA endpoint %s is not trusted by the release policy"
                                    % req.get("maa_endpoint")})
        base = os.path.join(args.keys_dir, os.path.basename(kid))
        if os.path.exists(base + ".pem"):
            jwk = jwk_from_pem(base + ".pem")
        elif os.path.exists(base + ".oct"):
            with open(base + ".oct", "rb") as f:
                jwk = {"k": b64url_bytes(f.read()), "kty": "oct"}
        else:
            return self.reply(403, {"error": "key release failed: key %s not found in %s" % (kid, req.get("akv_endpoint"))})
        if args.kty_suffix:
            jwk["kty"] += args.kty_suffix
        self.reply(200, {"key": json.dumps(jwk)})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys-dir", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--require-maa")
    ap.add_argument("--kty-suffix", default="")
    args = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.args = args
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, args.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
