#!/usr/bin/env python3
"""A misbehaving HTTP object server for the store tests (standard library only).

    faultserver.py ROOT PORT_FILE

Serves the files below ROOT at /MODE/PATH on 127.0.0.1, on a port the kernel picks (written
to PORT_FILE once listening). MODE picks the misbehaviour:
  ok         honest: Range -> 206 with Content-Range, ETag, If-Match -> 412 on mismatch
  err500     the first request for each path answers 500, later ones are honest
  busy503    the first request for each path answers 503 with Retry-After: 1
  cut        the first GET of each path sends half its body and closes the connection
  stall      the first GET of each path sends half its body and then stalls for 60 s
  norange    ignores Range: 200 with the whole body
  badrange   answers 206 with the range shifted by one byte (and says so in Content-Range)
  etag       the ETag changes on every request; If-Match is honoured (-> 412)
  etagloose  the ETag changes on every request and If-Match is ignored
"""
import os
import re
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.realpath(sys.argv[1])
COUNTS = {}
LOCK = threading.Lock()


def first_time(key):
    with LOCK:
        n = COUNTS.get(key, 0)
        COUNTS[key] = n + 1
        return n == 0


def next_count(key):
    with LOCK:
        COUNTS[key] = COUNTS.get(key, 0) + 1
        return COUNTS[key]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def plain(self, code, text, extra=()):
        body = text.encode()
        self.send_response(code)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def serve(self):
        parts = self.path.split("?", 1)[0].lstrip("/").split("/", 1)
        if len(parts) != 2:
            return self.plain(404, "no mode\n")
        mode, rel = parts
        path = os.path.realpath(os.path.join(ROOT, rel))
        if not path.startswith(ROOT + os.sep) or not os.path.isfile(path):
            return self.plain(404, "not found\n")
        data = open(path, "rb").read()
        key = (mode, rel)
        if mode == "err500" and first_time(key):
            return self.plain(500, "injected failure\n")
        if mode == "busy503" and first_time(key):
            return self.plain(503, "busy\n", [("Retry-After", "1")])
        etag = '"%x-%x"' % (len(data), int(os.stat(path).st_mtime))
        if mode in ("etag", "etagloose"):
            etag = '"v%d"' % next_count(("etag", mode, rel))
        im = self.headers.get("If-Match")
        if im is not None and mode != "etagloose" and im != etag and im != "*":
            return self.plain(412, "precondition failed\n")
        start, end, status = 0, len(data) - 1, 200
        rng = self.headers.get("Range")
        if rng and mode != "norange":
            m = re.fullmatch(r"bytes=(\d+)-(\d+)", rng)
            if not m:
                return self.plain(400, "bad range\n")
            start, end = int(m.group(1)), min(int(m.group(2)), len(data) - 1)
            if start >= len(data):
                return self.plain(416, "unsatisfiable\n", [("Content-Range", "bytes */%d" % len(data))])
            status = 206
            if mode == "badrange" and end + 1 < len(data):
                start, end = start + 1, end + 1
        body = data[start:end + 1]
        self.send_response(status)
        self.send_header("ETag", etag)
        self.send_header("Content-Length", str(len(body)))
        if status == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end, len(data)))
        if mode in ("cut", "stall") and self.command == "GET" and len(body) > 1 and first_time(key):
            self.end_headers()
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            if mode == "stall":
                time.sleep(60)
            self.close_connection = True
            return
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        self.serve()

    def do_HEAD(self):
        self.serve()


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    srv = Server(("127.0.0.1", 0), Handler)
    tmp = sys.argv[2] + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, sys.argv[2])
    srv.serve_forever()


if __name__ == "__main__":
    main()
