# shellcheck shell=bash
# S3 servers on loopback for the tests (source it after harness.sh), each on a free port,
# stopped at exit.
#   start_s3rver BUCKET   s3rver (npm) in a scratch folder with BUCKET made; exports
#                         S3RVER_ENDPOINT (http://127.0.0.1:PORT) and its well-known
#                         development keys AWS_ACCESS_KEY_ID=S3RVER, AWS_SECRET_ACCESS_KEY=S3RVER
#                         (not secrets), AWS_REGION=us-east-1. Returns 77 when s3rver is missing.
#                         s3rver 3.7 checks the access key id but not SigV4 signatures, and its
#                         continuation tokens need DES, which Node's OpenSSL 3 no longer has:
#                         the stand-in below covers both.
#   start_s3_standin BUCKET
#                         a small S3 written here (python3 + botocore) that recomputes every
#                         request's SigV4 signature with botocore and refuses a wrong one with
#                         S3's SignatureDoesNotMatch; ranged GET with If-Match, HEAD, PUT,
#                         multipart upload, ListObjectsV2 with continuation tokens; and the
#                         credential services: IMDSv2 (/latest/...) and STS
#                         AssumeRoleWithWebIdentity (POST /), whose temporary keys it accepts.
#                         Exports S3SI_ENDPOINT, S3SI_AKID, S3SI_SECRET (test values). Its
#                         control file $S3SI_DIR/slowdown holds a count of requests to answer
#                         with 503 SlowDown; $S3SI_DIR/lifetime the seconds temporary keys last
#                         (default 3600); $S3SI_DIR/issued.log gets a line per temporary key.
#                         POST /_tamper/KEY (unsigned) changes a byte of KEY, and so its ETag.
#                         Control files complete-error and part-error hold counts of
#                         CompleteMultipartUpload answers that are 200 with an <Error> body, and
#                         of UploadPart answers refused; aborted uploads go to aborted.log;
#                         imds-budget, when present, the credential documents IMDS serves before
#                         it answers 500.
#                         Returns 77 without botocore.
#   stop_s3rver, stop_s3_standin

S3RVER_PID=
S3SI_PID=

s3_answers() {
  kill -0 "$1" 2>/dev/null || return 0 # gone: stop waiting
  curl -s -o /dev/null "http://127.0.0.1:$2/"
}

start_s3rver() {
  local bin attempt dir=$TMP/s3rver
  bin=$(command -v s3rver || true)
  if [ -z "$bin" ]; then
    echo "start_s3rver: s3rver is not installed (scripts/install-deps.sh installs it)" >&2
    return 77
  fi
  on_exit stop_s3rver
  for attempt in 1 2 3 4 5; do
    rm -rf "$dir"
    mkdir -p "$dir/data"
    S3RVER_PORT=$(h_free_port)
    "$bin" -d "$dir/data" -a 127.0.0.1 -p "$S3RVER_PORT" --no-vhost-buckets --configure-bucket "$1" \
      >"$dir/s3rver.log" 2>&1 &
    S3RVER_PID=$!
    if wait_until 30 s3_answers "$S3RVER_PID" "$S3RVER_PORT" && kill -0 "$S3RVER_PID" 2>/dev/null; then
      export S3RVER_ENDPOINT="http://127.0.0.1:$S3RVER_PORT"
      export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1
      return 0
    fi
    h_stop "$S3RVER_PID"
    S3RVER_PID=
    grep -q EADDRINUSE "$dir/s3rver.log" || break
  done
  echo "start_s3rver: s3rver would not start:" >&2
  cat "$dir/s3rver.log" >&2
  return 77
}

stop_s3rver() {
  h_stop "$S3RVER_PID"
  S3RVER_PID=
}

start_s3_standin() {
  local attempt
  if ! python3 -c 'import botocore.auth' 2>/dev/null; then
    echo "start_s3_standin: python3 has no botocore (Debian: python3-botocore, or awscli)" >&2
    return 77
  fi
  S3SI_DIR=$TMP/s3standin
  mkdir -p "$S3SI_DIR"
  s3_standin_source >"$S3SI_DIR/standin.py"
  export S3SI_AKID=AKIDSTANDIN0000TEST S3SI_SECRET=standin/secret/for/tests/only S3SI_DIR
  on_exit stop_s3_standin
  for attempt in 1 2 3 4 5; do
    S3SI_PORT=$(h_free_port)
    python3 "$S3SI_DIR/standin.py" "$S3SI_PORT" "$1" "$S3SI_DIR" >"$S3SI_DIR/standin.log" 2>&1 &
    S3SI_PID=$!
    if wait_until 20 s3_answers "$S3SI_PID" "$S3SI_PORT" && kill -0 "$S3SI_PID" 2>/dev/null; then
      export S3SI_ENDPOINT="http://127.0.0.1:$S3SI_PORT"
      return 0
    fi
    h_stop "$S3SI_PID"
    S3SI_PID=
    grep -q "Address already in use" "$S3SI_DIR/standin.log" || break
  done
  echo "start_s3_standin: the stand-in would not start:" >&2
  cat "$S3SI_DIR/standin.log" >&2
  return 77
}

stop_s3_standin() {
  h_stop "$S3SI_PID"
  S3SI_PID=
}

s3_standin_source() {
  cat <<'PY'
import base64, datetime, hashlib, http.server, os, re, secrets, sys, threading, urllib.parse
import botocore.auth, botocore.awsrequest, botocore.credentials

port, bucket, state_dir = int(sys.argv[1]), sys.argv[2], sys.argv[3]
keys = {os.environ["S3SI_AKID"]: (os.environ["S3SI_SECRET"], None)}  # akid -> (secret, session token)
objects, uploads, lock = {}, {}, threading.Lock()
AUTH_RE = re.compile(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/s3/aws4_request, "
                     r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$")

def xml_escape(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.command, self.path))

    def send(self, status, body=b"", headers=None, head=False):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and not head:
            self.wfile.write(body)

    def error(self, status, code, msg):
        body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code><Message>%s</Message>"
                "</Error>" % (code, xml_escape(msg))).encode()
        self.send(status, body, {"Content-Type": "application/xml"}, head=self.command == "HEAD")

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def take(self, name):
        """Counts down the number in the control file NAME; true while it was above zero."""
        path = os.path.join(state_dir, name)
        with lock:
            try:
                n = int(open(path).read().strip() or 0)
            except (OSError, ValueError):
                return False
            if n <= 0:
                return False
            open(path, "w").write(str(n - 1))
            return True

    def slowdown(self):
        path = os.path.join(state_dir, "slowdown")
        with lock:
            try:
                n = int(open(path).read().strip() or 0)
            except (OSError, ValueError):
                return False
            if n <= 0:
                return False
            open(path, "w").write(str(n - 1))
        self.error(503, "SlowDown", "Please reduce your request rate.")
        return True

    def check_sig(self, data):
        """Recomputes the signature with botocore from the signed headers as received."""
        m = AUTH_RE.match(self.headers.get("Authorization", ""))
        if not m:
            self.error(403, "AccessDenied", "no SigV4 Authorization header")
            return False
        akid, day, region, signed, sig = m.groups()
        if akid not in keys:
            self.error(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.")
            return False
        secret, token = keys[akid]
        if token is not None and self.headers.get("x-amz-security-token") != token:
            self.error(403, "InvalidToken", "The provided token is malformed or otherwise invalid.")
            return False
        amz_date = self.headers.get("x-amz-date", "")
        payload = self.headers.get("x-amz-content-sha256", "")
        if payload != "UNSIGNED-PAYLOAD" and payload != hashlib.sha256(data).hexdigest():
            self.error(400, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.")
            return False
        names = signed.split(";")
        if "host" not in names or "x-amz-date" not in names or "x-amz-content-sha256" not in names:
            self.error(403, "AccessDenied", "host, x-amz-date and x-amz-content-sha256 must be signed")
            return False
        req = botocore.awsrequest.AWSRequest(method=self.command, url="http://%s%s" % (self.headers["Host"], self.path),
                                             headers={n: self.headers.get(n, "") for n in names})
        req.context["timestamp"] = amz_date
        auth = botocore.auth.S3SigV4Auth(botocore.credentials.Credentials(akid, secret, token), "s3", region)
        auth.payload = lambda r: payload
        want = auth.signature(auth.string_to_sign(req, auth.canonical_request(req)), req)
        if want != sig or day != amz_date[:8]:
            self.error(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the "
                       "signature you provided. Check your key and signing method.")
            return False
        return True

    def route(self):
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        if u.path.startswith("/latest/"):
            return self.imds(u.path)
        if u.path == "/" and self.command == "POST":
            return self.sts()
        if u.path.startswith("/_tamper/") and self.command == "POST":
            # the test's hand on the bucket: one byte of the object changes, and so its ETag
            key = urllib.parse.unquote(u.path[len("/_tamper/"):])
            data = bytearray(objects[key][0])
            data[len(data) // 2] ^= 1
            objects[key] = (bytes(data), '"%s"' % hashlib.md5(data).hexdigest())
            return self.send(200)
        if u.path == "/" and self.command == "GET" and not self.headers.get("Authorization"):
            return self.send(200, b"ok")  # a liveness probe
        data = self.body()
        if self.slowdown() or not self.check_sig(data):
            return
        parts = urllib.parse.unquote(u.path).split("/", 2)
        if len(parts) < 2 or parts[1] != bucket:
            return self.error(404, "NoSuchBucket", "The specified bucket does not exist")
        key = parts[2] if len(parts) > 2 else ""
        if key == "":
            if "list-type" in q:
                return self.list(q)
            return self.error(400, "InvalidRequest", "unsupported bucket request")
        if self.command == "POST" and "uploads" in q:
            uid = base64.b64encode(secrets.token_bytes(24)).decode()
            uploads[uid] = {}
            return self.send(200, ("<InitiateMultipartUploadResult><Bucket>%s</Bucket><Key>%s</Key><UploadId>%s"
                                   "</UploadId></InitiateMultipartUploadResult>" % (bucket, xml_escape(key), uid)).encode())
        if self.command == "PUT" and "uploadId" in q and self.take("part-error"):
            return self.error(400, "InvalidArgument", "Part number must be an integer between 1 and 10000")
        if self.command == "PUT" and "uploadId" in q:
            up = uploads.get(q["uploadId"][0])
            if up is None:
                return self.error(404, "NoSuchUpload", "The specified upload does not exist.")
            etag = '"%s"' % hashlib.md5(data).hexdigest()
            up[int(q["partNumber"][0])] = (data, etag)
            return self.send(200, headers={"ETag": etag})
        if self.command == "POST" and "uploadId" in q and self.take("complete-error"):
            # S3 may answer CompleteMultipartUpload with 200 and an Error body
            return self.send(200, b"<Error><Code>InternalError</Code><Message>We encountered an internal error. "
                                  b"Please try again.</Message></Error>")
        if self.command == "POST" and "uploadId" in q:
            up = uploads.pop(q["uploadId"][0], None)
            if up is None:
                return self.error(404, "NoSuchUpload", "The specified upload does not exist.")
            named = re.findall(r"<PartNumber>(\d+)</PartNumber><ETag>([^<]*)</ETag>", data.decode())
            if [int(n) for n, _ in named] != sorted(up) or any(up[int(n)][1] != e.replace("&quot;", '"') for n, e in named):
                return self.error(400, "InvalidPart", "One or more of the specified parts could not be found.")
            whole = b"".join(up[n][0] for n in sorted(up))
            etag = '"%s-%d"' % (hashlib.md5(b"".join(bytes.fromhex(up[n][1].strip('"')) for n in sorted(up))).hexdigest(), len(up))
            objects[key] = (whole, etag)
            open(os.path.join(state_dir, "multipart.log"), "a").write("%s %d\n" % (key, len(up)))
            return self.send(200, ("<CompleteMultipartUploadResult><Key>%s</Key><ETag>%s</ETag>"
                                   "</CompleteMultipartUploadResult>" % (xml_escape(key), xml_escape(etag))).encode())
        if self.command == "DELETE" and "uploadId" in q:
            uploads.pop(q["uploadId"][0], None)
            open(os.path.join(state_dir, "aborted.log"), "a").write(key + "\n")
            return self.send(204)
        if self.command == "PUT":
            objects[key] = (data, '"%s"' % hashlib.md5(data).hexdigest())
            return self.send(200, headers={"ETag": objects[key][1]})
        if self.command in ("GET", "HEAD"):
            if key not in objects:
                return self.error(404, "NoSuchKey", "The specified key does not exist.")
            data, etag = objects[key]
            im = self.headers.get("If-Match")
            if im is not None and im != etag:
                return self.error(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
            hdr = {"ETag": etag, "Last-Modified": "Sat, 21 Nov 2026 07:00:00 GMT"}
            rng = self.headers.get("Range")
            if rng:
                m = re.match(r"bytes=(\d+)-(\d+)$", rng)
                a, b = int(m.group(1)), min(int(m.group(2)), len(data) - 1)
                if a >= len(data):
                    return self.error(416, "InvalidRange", "The requested range is not satisfiable")
                hdr["Content-Range"] = "bytes %d-%d/%d" % (a, b, len(data))
                return self.send(206, data[a:b + 1], hdr, head=self.command == "HEAD")
            return self.send(200, data, hdr, head=self.command == "HEAD")
        return self.error(405, "MethodNotAllowed", "not here")

    def list(self, q):
        prefix = q.get("prefix", [""])[0]
        page = int(q.get("max-keys", ["1000"])[0])
        after = ""
        if "continuation-token" in q:
            after = base64.b64decode(q["continuation-token"][0]).decode()[len("ccrfs-test/"):]
        names = sorted(k for k in objects if k.startswith(prefix) and k > after)
        shown, more = names[:page], len(names) > page
        out = ["<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">",
               "<Name>%s</Name><Prefix>%s</Prefix><KeyCount>%d</KeyCount><MaxKeys>%d</MaxKeys><IsTruncated>%s</IsTruncated>"
               % (bucket, xml_escape(prefix), len(shown), page, "true" if more else "false")]
        for k in shown:
            out.append("<Contents><Key>%s</Key><LastModified>2026-11-21T07:00:00.000Z</LastModified><ETag>%s</ETag>"
                       "<Size>%d</Size><StorageClass>STANDARD</StorageClass></Contents>"
                       % (xml_escape(k), xml_escape(objects[k][1]).replace('"', "&quot;"), len(objects[k][0])))
        if more:
            # '/', '+' and '=' in the token: the client must encode it
            out.append("<NextContinuationToken>%s</NextContinuationToken>"
                       % base64.b64encode(("ccrfs-test/" + shown[-1]).encode()).decode())
        out.append("</ListBucketResult>")
        with open(os.path.join(state_dir, "list.log"), "a") as f:
            f.write("%s\n" % ("continued" if after else "first"))
        self.send(200, "".join(out).encode(), {"Content-Type": "application/xml"})

    def temporary_keys(self):
        akid = "ASIA" + secrets.token_hex(8).upper()
        secret, token = secrets.token_urlsafe(30), secrets.token_urlsafe(60)
        keys[akid] = (secret, token)
        try:
            lifetime = int(open(os.path.join(state_dir, "lifetime")).read())
        except (OSError, ValueError):
            lifetime = 3600
        exp = (datetime.datetime.utcnow() + datetime.timedelta(seconds=lifetime)).strftime("%Y-%m-%dT%H:%M:%SZ")
        with open(os.path.join(state_dir, "issued.log"), "a") as f:
            f.write(akid + "\n")
        return akid, secret, token, exp

    def imds(self, path):
        tokfile = os.path.join(state_dir, "imds.token")
        if self.command == "PUT" and path == "/latest/api/token":
            if not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                return self.send(400)
            t = secrets.token_urlsafe(24)
            open(tokfile, "w").write(t)
            return self.send(200, t.encode())
        try:
            want = open(tokfile).read()
        except OSError:
            want = None
        if want is None or self.headers.get("X-aws-ec2-metadata-token") != want:
            return self.send(401)
        if path == "/latest/meta-data/iam/security-credentials/":
            return self.send(200, b"ccrfs-test-role")
        if path == "/latest/meta-data/iam/security-credentials/ccrfs-test-role":
            if os.path.exists(os.path.join(state_dir, "imds-budget")) and not self.take("imds-budget"):
                return self.send(500, b"")
            akid, secret, token, exp = self.temporary_keys()
            return self.send(200, ('{"Code":"Success","LastUpdated":"2026-11-21T07:00:00Z","Type":"AWS-HMAC",'
                                   '"AccessKeyId":"%s","SecretAccessKey":"%s","Token":"%s","Expiration":"%s"}'
                                   % (akid, secret, token, exp)).encode())
        return self.send(404)

    def sts(self):
        form = urllib.parse.parse_qs(self.body().decode())
        jwt = open(os.path.join(state_dir, "web-identity.jwt")).read().strip()
        if form.get("Action") != ["AssumeRoleWithWebIdentity"] or form.get("WebIdentityToken") != [jwt] or \
           not form.get("RoleArn", [""])[0].startswith("arn:aws:iam::"):
            return self.send(400, b"<ErrorResponse><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code>"
                                  b"<Message>Couldn't retrieve verification key from your identity provider</Message>"
                                  b"</Error></ErrorResponse>")
        akid, secret, token, exp = self.temporary_keys()
        self.send(200, ("<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
                        "<AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>%s</AccessKeyId>"
                        "<SecretAccessKey>%s</SecretAccessKey><SessionToken>%s</SessionToken><Expiration>%s</Expiration>"
                        "</Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>"
                        % (akid, secret, token, exp)).encode())

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = route

http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
PY
}
