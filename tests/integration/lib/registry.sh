# Registry fixtures for the integration tests: Debian's docker-registry (the
# distribution registry) on 127.0.0.1, started under $T and stopped on exit.
# Source after common.sh. Each start function sets variables the test uses:
#
#   registry_plain            REG_PLAIN=127.0.0.1:PORT              (http, no auth)
#   registry_tls              REG_TLS=127.0.0.1:PORT (https, htpasswd Basic auth)
#                             REG_USER / REG_PASS, REG_CERTS_DIR (certs.d layout:
#                             $REG_CERTS_DIR/127.0.0.1:PORT/ca.crt), REG_CA (the CA file),
#                             REG_AUTH_FILE (containers auth.json with the credentials)
#   registry_token            REG_TOKEN=127.0.0.1:PORT (http, Bearer token auth),
#                             REG_TOKEN_REALM (the token server), same REG_USER / REG_PASS;
#                             the token server's log is $T/registry/token/token.log
#   registry_fault UPSTREAM [SEED RATE]
#                             REG_FAULT=127.0.0.1:PORT, a proxy in front of UPSTREAM
#                             (tests/registry/fault_proxy.py); fault_config / fault_stats
#
# A start function returns non-zero (with the registry's log on stderr) when the
# registry does not answer /v2/ within 10 s. REG_CERTS_DIR is a certs.d root: a client
# gets the CA with --cert-dir "$REG_CERTS_DIR/$REG_TLS" (cbuild and skopeo alike) or
# through HOME=... with $HOME/.config/containers/certs.d linked to it (push/http.h).
need docker-registry openssl htpasswd curl python3

REG_DIR=$T/registry
REG_USER=cbuild
REG_PASS=s3cret-pass
mkdir -p "$REG_DIR"
: >"$REG_DIR/pids"

# Kill what the fixtures started, then the common cleanup.
_reg_cleanup() {
    local pid
    while read -r pid; do
        kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    done <"$REG_DIR/pids"
}
trap '_reg_cleanup; chmod -R u+w "$T" 2>/dev/null; rm -rf "$T"' EXIT

# _reg_port: a port nothing listens on now (the kernel's choice for port 0).
_reg_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# _reg_wait URL CURL-ARGS...: waits until URL answers with any HTTP status.
_reg_wait() {
    local url=$1 i
    shift
    for i in $(seq 100); do
        code=$(curl -s -o /dev/null -w '%{http_code}' "$@" "$url" 2>/dev/null) || code=000
        [ "$code" != 000 ] && return 0
        sleep 0.1
    done
    return 1
}

# _reg_run NAME CONFIG-BODY SCHEME [CURL-ARGS...]: writes a config, starts the
# registry on a free port (retrying when another process took it), sets REG_ADDR.
_reg_run() {
    local name=$1 body=$2 scheme=$3 dir=$REG_DIR/$1 attempt port pid
    shift 3
    mkdir -p "$dir/data"
    for attempt in 1 2 3; do
        port=$(_reg_port)
        cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
$body
EOF
        docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
        pid=$!
        echo "$pid" >>"$REG_DIR/pids"
        if _reg_wait "$scheme://127.0.0.1:$port/v2/" "$@" && kill -0 "$pid" 2>/dev/null; then
            REG_ADDR=127.0.0.1:$port
            return 0
        fi
        kill "$pid" 2>/dev/null
        grep -q 'address already in use' "$dir/log" || break
    done
    echo "registry $name did not start:" >&2
    tail -20 "$dir/log" >&2
    return 1
}

registry_plain() {
    _reg_run plain "" http || return 1
    REG_PLAIN=$REG_ADDR
}

# _reg_ca DIR: a CA and a server certificate for 127.0.0.1 and localhost, signed by it.
_reg_ca() {
    local d=$1
    mkdir -p "$d"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=cbuild-test-ca \
        -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null || return 1
    openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 \
        -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null || return 1
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$d/ext"
    openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
        -days 2 -extfile "$d/ext" -out "$d/server.crt" 2>/dev/null
}

# _reg_auth_file HOST: a containers auth.json with the test credentials for HOST.
_reg_auth_file() {
    REG_AUTH_FILE=$REG_DIR/auth.json
    python3 - "$REG_AUTH_FILE" "$1" "$REG_USER:$REG_PASS" <<'EOF'
import base64, json, os, sys
path, host, cred = sys.argv[1:]
data = json.load(open(path)) if os.path.exists(path) else {"auths": {}}
data["auths"][host] = {"auth": base64.b64encode(cred.encode()).decode()}
json.dump(data, open(path, "w"), indent=1)
EOF
}

registry_tls() {
    local d=$REG_DIR/tls
    _reg_ca "$d/pki" || { echo "openssl could not make the test certificates" >&2; return 1; }
    htpasswd -Bbc "$d/htpasswd" "$REG_USER" "$REG_PASS" 2>/dev/null || return 1
    _reg_run tls "  tls:
    certificate: $d/pki/server.crt
    key: $d/pki/server.key
auth:
  htpasswd:
    realm: cbuild-test
    path: $d/htpasswd" https --cacert "$d/pki/ca.crt" || return 1
    REG_TLS=$REG_ADDR
    REG_CA=$d/pki/ca.crt
    REG_CERTS_DIR=$REG_DIR/certs.d
    mkdir -p "$REG_CERTS_DIR/$REG_TLS"
    cp "$REG_CA" "$REG_CERTS_DIR/$REG_TLS/ca.crt"
    _reg_auth_file "$REG_TLS"
}

# registry_token: the token server (tests/registry/token_server.py) signs RS256
# JWTs with a key whose self-signed certificate is the registry's rootcertbundle.
registry_token() {
    local d=$REG_DIR/token tport i
    mkdir -p "$d"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=cbuild-token-signer \
        -keyout "$d/signer.key" -out "$d/signer.crt" 2>/dev/null || return 1
    printf '%s:%s\n' "$REG_USER" "$REG_PASS" >"$d/users"
    tport=$(_reg_port)
    python3 "$CB_SOURCE_DIR/tests/registry/token_server.py" --port "$tport" \
        --key "$d/signer.key" --cert "$d/signer.crt" --users "$d/users" \
        --issuer cbuild-test-issuer --service cbuild-test-registry --log "$d/token.log" \
        >"$d/server.out" 2>&1 &
    echo $! >>"$REG_DIR/pids"
    REG_TOKEN_REALM=http://127.0.0.1:$tport/token
    _reg_wait "$REG_TOKEN_REALM" || { echo "token server did not start:" >&2; cat "$d/server.out" >&2; return 1; }
    _reg_run token "auth:
  token:
    realm: $REG_TOKEN_REALM
    service: cbuild-test-registry
    issuer: cbuild-test-issuer
    rootcertbundle: $d/signer.crt" http || return 1
    REG_TOKEN=$REG_ADDR
    _reg_auth_file "$REG_TOKEN"
}

# registry_fault UPSTREAM [SEED RATE]: the fault proxy in front of UPSTREAM (host:port, http).
registry_fault() {
    local up=$1 seed=${2:-1} rate=${3:-0} d=$REG_DIR/fault port
    mkdir -p "$d"
    port=$(_reg_port)
    python3 "$CB_SOURCE_DIR/tests/registry/fault_proxy.py" --port "$port" --upstream "$up" \
        --seed "$seed" --rate "$rate" --log "$d/requests.log" >"$d/server.out" 2>&1 &
    echo $! >>"$REG_DIR/pids"
    REG_FAULT=127.0.0.1:$port
    _reg_wait "http://$REG_FAULT/_fault/stats" || { echo "fault proxy did not start:" >&2; cat "$d/server.out" >&2; return 1; }
}

# fault_config KEY=VALUE...: changes the proxy's seed, rate or modes (and zeroes its counters).
fault_config() {
    local q
    q=$(IFS='&'; echo "$*")
    curl -sf -X POST "http://$REG_FAULT/_fault/config?$q" >/dev/null
}

# fault_stats [JQ-ARGS...]: the proxy's counters (JSON), or what jq makes of them.
fault_stats() {
    curl -sf "http://$REG_FAULT/_fault/stats" | jq -r "${@:-.}"
}
