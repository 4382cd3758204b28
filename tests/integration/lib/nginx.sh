# shellcheck shell=bash
# nginx on loopback for the tests (sourced by harness.sh), in $TMP/nginx, stopped at exit.
# Also sourced on its own (demo/, bench/): then it lives in a folder of its own, which
# stop_nginx removes, and the caller stops it.
#   start_nginx ROOT   serves ROOT over plain HTTP and HTTPS (a certificate made here),
#                      with WebDAV PUT into ROOT when the build has the module; exports
#                      NGINX_PORT, NGINX_TLS_PORT, NGINX_CA (the certificate to trust),
#                      NGINX_DIR and NGINX_DAV (1 when PUT works, else 0).
#                      Returns 77 when nginx is not installed.
#   stop_nginx         stops it (safe to call twice).
#   restart_nginx      starts it again on the same ports after stop_nginx.
#   nginx_free_port    a free TCP port on 127.0.0.1.

NGINX_DIR=

nginx_in_harness() {
    declare -F h_free_port >/dev/null
}

nginx_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# nginx_wait SECONDS command...: the harness's scaled wait, or a plain one outside it.
nginx_wait() {
    if nginx_in_harness; then
        wait_until "$@"
        return
    fi
    local n=$(($1 * 10))
    shift
    while [ "$n" -gt 0 ]; do
        "$@" && return 0
        sleep 0.1
        n=$((n - 1))
    done
    return 1
}

nginx_pid_gone() {
    if nginx_in_harness; then
        h_gone "$1"
    else
        ! kill -0 "$1" 2>/dev/null
    fi
}

nginx_bin() {
    command -v nginx || echo /usr/sbin/nginx
}

nginx_answers() {
    curl -s -o /dev/null "http://127.0.0.1:$NGINX_PORT/"
}

start_nginx() {
    local root="$1" attempt
    local nginx_bin
    nginx_bin=$(nginx_bin)
    if [ ! -x "$nginx_bin" ]; then
        echo "start_nginx: nginx is not installed" >&2
        return 77
    fi
    if nginx_in_harness; then
        NGINX_DIR=$TMP/nginx
        on_exit stop_nginx
    else
        NGINX_DIR=$(mktemp -d /tmp/ccrfs-nginx.XXXXXX)
    fi
    export NGINX_DIR
    mkdir -p "$NGINX_DIR/logs" "$NGINX_DIR/tmp"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
        -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
        -keyout "$NGINX_DIR/key.pem" -out "$NGINX_DIR/cert.pem" >/dev/null 2>&1 || {
        echo "start_nginx: openssl could not make a certificate" >&2
        return 1
    }
    export NGINX_CA="$NGINX_DIR/cert.pem"
    # Run as root (as the tests do), nginx's workers would become "nobody" and could not
    # read the test's private folders; keep them the test's own user.
    local user_line="" dav_lines=""
    if "$nginx_bin" -V 2>&1 | grep -q -- --with-http_dav_module; then
        dav_lines="dav_methods PUT; create_full_put_path on; dav_access user:rw group:r all:r;"
        export NGINX_DAV=1
    else
        export NGINX_DAV=0
    fi
    if [ "$(id -u)" -eq 0 ]; then
        user_line="user $(id -un) $(id -gn);"
    fi
    # Another process may take a port between the probe and nginx's bind: try again then.
    for attempt in 1 2 3 4 5; do
        NGINX_PORT=$(nginx_free_port)
        NGINX_TLS_PORT=$(nginx_free_port)
        [ "$NGINX_PORT" != "$NGINX_TLS_PORT" ] || continue
        cat >"$NGINX_DIR/nginx.conf" <<CONF
daemon on;
$user_line
pid $NGINX_DIR/nginx.pid;
error_log $NGINX_DIR/logs/error.log warn;
worker_processes 2;
events { worker_connections 256; }
http {
    access_log $NGINX_DIR/logs/access.log;
    client_body_temp_path $NGINX_DIR/tmp/body;
    proxy_temp_path $NGINX_DIR/tmp/proxy;
    fastcgi_temp_path $NGINX_DIR/tmp/fastcgi;
    uwsgi_temp_path $NGINX_DIR/tmp/uwsgi;
    scgi_temp_path $NGINX_DIR/tmp/scgi;
    default_type application/octet-stream;
    sendfile on;
    keepalive_requests 100000;
    client_max_body_size 0;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        listen 127.0.0.1:$NGINX_TLS_PORT ssl;
        ssl_certificate $NGINX_DIR/cert.pem;
        ssl_certificate_key $NGINX_DIR/key.pem;
        root $root;
        location / {
            $dav_lines
        }
    }
}
CONF
        if "$nginx_bin" -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf" 2>"$NGINX_DIR/logs/start.log"; then
            export NGINX_PORT NGINX_TLS_PORT
            nginx_wait 10 nginx_answers && return 0
            echo "start_nginx: nginx started but does not answer" >&2
            return 1
        fi
        grep -q "Address already in use" "$NGINX_DIR/logs/start.log" || break
    done
    echo "start_nginx: nginx would not start:" >&2
    cat "$NGINX_DIR/logs/start.log" >&2
    return 1
}

stop_nginx() {
    if [ -n "${NGINX_DIR:-}" ] && [ -f "$NGINX_DIR/nginx.pid" ]; then
        local pid
        pid=$(cat "$NGINX_DIR/nginx.pid")
        kill "$pid" 2>/dev/null || true
        nginx_wait 5 nginx_pid_gone "$pid" || kill -KILL "$pid" 2>/dev/null
    fi
    # On its own, the folder is nginx's alone; in the harness it goes with the scratch folder
    # (and stays for restart_nginx).
    if [ -n "${NGINX_DIR:-}" ] && ! nginx_in_harness; then
        rm -rf "$NGINX_DIR"
        NGINX_DIR=
    fi
    return 0
}

restart_nginx() {
    "$(nginx_bin)" -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf" 2>>"$NGINX_DIR/logs/start.log" &&
        nginx_wait 10 nginx_answers
}
