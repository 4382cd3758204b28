#!/usr/bin/env python3
"""A local STAND-IN for the Azure confidential-sidecar SKR API, for tests only.

It is not the real sidecar and does no attestation: it answers POST /key/release
({"maa_endpoint", "akv_endpoint", "kid"}) with {"key": "<JWK>"} for a key-encryption key it
holds, the way the sidecar answers after Microsoft Azure Attestation and Key Vault released
it, and with 403 {"error": ...} otherwise. GET /status answers {"message": "STATUS OK"}.

  skr_standin.py --keys-dir DIR --port-file FILE [--require-maa URL]
DIR holds KID.pem (RSA private keys); the JWK is built from each with the openssl command.
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


def jwk_from_pem(path):
    text = subprocess.run(["openssl", "rsa", "-in", path, "-noout", "-text"], check=True,
                          capture_output=True, text=True).stdout
    fields = {}
    for name, label in [("n", "modulus"), ("d", "privateExponent"), ("p", "prime1"), ("q", "prime2"),
                        ("dp", "exponent1"), ("dq", "exponent2"), ("qi", "coefficient")]:
        m = re.search(label + r":\s*\n((?:\s+[0-9a-f:]+\n)+)", text)
        fields[name] = int(re.sub(r"[^0-9a-f]", "", m.group(1)), 16)
    e = int(re.search(r"publicExponent: (\d+)", text).group(1))
    jwk = {"kty": "RSA", "e": b64url(e)}
    jwk.update({k: b64url(v) for k, v in fields.items()})
    return jwk


class Handler(BaseHTTPRequestHandler):
    server_version = "skr-standin"

    def log_message(self, fmt, *args):  # keep key material out of any log: log the path only
        sys.stderr.write("skr-standin: %s %s\n" % (self.command, self.path))

    def reply(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/status":
            self.reply(200, {"message": "STATUS OK"})
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
        if args.require_maa and req.get("maa_endpoint") != args.require_maa:
            return self.reply(403, {"error": "attestation failed: MAA endpoint %s is not trusted by the release policy"
                                    % req.get("maa_endpoint")})
        path = os.path.join(args.keys_dir, os.path.basename(kid) + ".pem")
        if not os.path.exists(path):
            return self.reply(403, {"error": "key release failed: key %s not found in %s" % (kid, req.get("akv_endpoint"))})
        self.reply(200, {"key": json.dumps(jwk_from_pem(path))})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys-dir", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--require-maa")
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
