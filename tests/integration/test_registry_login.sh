#!/bin/bash
# cbuild login / logout against the TLS + htpasswd registry and the token registry
# (tests/integration/lib/registry.sh):
# - login checks the password with the registry before writing anything: a wrong one
#   fails clearly and leaves the auth file as it was;
# - the auth file is 0600, holds {"auths": {HOST: {"auth": base64(USER:PASS)}}}, keeps
#   what else it held, and is found by --authfile, REGISTRY_AUTH_FILE and
#   ${XDG_RUNTIME_DIR}/containers/auth.json; pulls then need no --creds;
# - ~/.docker/config.json is read too (HOME points into $T);
# - logout removes only that registry's entry; a second logout is an error.
source "$CB_SOURCE_DIR/tests/integration/lib/common.sh"
source "$CB_SOURCE_DIR/tests/integration/lib/registry.sh"
need skopeo jq python3 stat base64
busybox_base "$T/bb"
registry_tls || exit 1
registry_token || exit 1
export HOME=$T/home XDG_RUNTIME_DIR=$T/run
unset REGISTRY_AUTH_FILE
mkdir -p "$HOME" "$XDG_RUNTIME_DIR"
certs=(--cert-dir "$REG_CERTS_DIR/$REG_TLS")
check "skopeo copy to the TLS registry" skopeo copy -q --dest-cert-dir "$REG_CERTS_DIR/$REG_TLS" \
    --dest-creds "$REG_USER:$REG_PASS" "oci:$T/bb:latest" "docker://$REG_TLS/a/bb:1"
check "skopeo copy to the token registry" skopeo copy -q --dest-tls-verify=false \
    --dest-creds "$REG_USER:$REG_PASS" "oci:$T/bb:latest" "docker://$REG_TOKEN/a/bb:1"
want_auth=$(printf '%s:%s' "$REG_USER" "$REG_PASS" | base64 -w0)
auth=$T/auth.json

# An auth file with someone else's entry and another field, which must survive.
printf '{"auths":{"other.example":{"auth":"eDp5"}},"credHelpers":{"gcr.io":"gcloud"}}\n' >"$auth"
chmod 0644 "$auth"
cp "$auth" "$T/auth.orig"

# A wrong password: refused, the file untouched.
cb_fails "login with a wrong password (Basic)" "login $REG_TLS.*(refused the credentials|401)" \
    login --authfile "$auth" "${certs[@]}" -u "$REG_USER" --password-stdin "$REG_TLS" <<<"wrong"
cmp -s "$auth" "$T/auth.orig" && ok || bad "a failed login changed the auth file"
cb_fails "login with a wrong password (token)" "login $REG_TOKEN.*authentication failed" \
    login --authfile "$auth" -u "$REG_USER" --password-stdin "$REG_TOKEN" <<<"wrong"
cmp -s "$auth" "$T/auth.orig" && ok || bad "a failed token login changed the auth file"
cb_fails "--password-stdin without -u" "needs --username" login --authfile "$auth" --password-stdin "$REG_TLS" </dev/null
cb_fails "no password on stdin" "no password" login --authfile "$auth" "${certs[@]}" -u "$REG_USER" --password-stdin "$REG_TLS" </dev/null
cb_fails "an empty password" "empty password" login --authfile "$auth" "${certs[@]}" -u "$REG_USER" --password-stdin "$REG_TLS" <<<""

# A right one: written, 0600, the rest kept.
cb_ok "login (Basic)" login --authfile "$auth" "${certs[@]}" -u "$REG_USER" --password-stdin "$REG_TLS" <<<"$REG_PASS"
grep -q "Login Succeeded" "$T/err" && ok || bad "login said: $(cat "$T/err")"
eq "auth file mode" "$(stat -c %a "$auth")" 600
eq "auth entry" "$(jq -r --arg h "$REG_TLS" '.auths[$h].auth' "$auth")" "$want_auth"
eq "other entry kept" "$(jq -r '.auths["other.example"].auth' "$auth")" eDp5
eq "other fields kept" "$(jq -r '.credHelpers["gcr.io"]' "$auth")" gcloud
cb_ok "login (token)" login --authfile "$auth" -u "$REG_USER" --password-stdin "http://$REG_TOKEN/v2/" <<<"$REG_PASS"
eq "token registry entry (URL given, host kept)" "$(jq -r --arg h "$REG_TOKEN" '.auths[$h].auth' "$auth")" "$want_auth"
eq "two registries + other" "$(jq -r '.auths | keys | length' "$auth")" 3

# The saved credentials serve pulls.
cb_ok "pull with --authfile (Basic)" pull -q --authfile "$auth" "${certs[@]}" "$REG_TLS/a/bb:1"
cb_ok "pull with --authfile (token)" pull -q --authfile "$auth" "$REG_TOKEN/a/bb:1"
REGISTRY_AUTH_FILE=$auth cb_ok "pull with REGISTRY_AUTH_FILE" pull -q "${certs[@]}" "$REG_TLS/a/bb:1"
cb_fails "pull without credentials" "$REG_TLS.*(user name and password|login)" pull "${certs[@]}" "$REG_TLS/a/bb:1"

# Default locations: login writes ${XDG_RUNTIME_DIR}/containers/auth.json.
cb_ok "login to the default auth file" login "${certs[@]}" -u "$REG_USER" --password-stdin "$REG_TLS" <<<"$REG_PASS"
xdg=$XDG_RUNTIME_DIR/containers/auth.json
eq "XDG auth file mode" "$(stat -c %a "$xdg")" 600
eq "XDG auth dir mode" "$(stat -c %a "$XDG_RUNTIME_DIR/containers")" 700
cb_ok "pull with the XDG auth file" pull -q "${certs[@]}" "$REG_TLS/a/bb:1"
# ~/.docker/config.json is read when nothing earlier has the registry.
mkdir -p "$HOME/.docker"
jq -n --arg h "https://$REG_TOKEN/v1/" --arg a "$want_auth" '{auths: {($h): {auth: $a}}}' >"$HOME/.docker/config.json"
cb_ok "pull with ~/.docker/config.json (URL-form key)" pull -q "$REG_TOKEN/a/bb:1"

# logout: only that entry goes.
cb_ok "logout" logout --authfile "$auth" "$REG_TLS"
eq "entry removed" "$(jq -r --arg h "$REG_TLS" '.auths[$h] // "gone"' "$auth")" gone
eq "token entry kept" "$(jq -r --arg h "$REG_TOKEN" '.auths[$h].auth' "$auth")" "$want_auth"
eq "other entry kept after logout" "$(jq -r '.auths["other.example"].auth' "$auth")" eDp5
eq "mode after logout" "$(stat -c %a "$auth")" 600
cb_fails "second logout" "not logged in" logout --authfile "$auth" "$REG_TLS"
cb_fails "pull after logout" "$REG_TLS.*(user name and password|login)" pull --authfile "$auth" "${certs[@]}" "$REG_TLS/a/bb:1"
cb_ok "logout from the XDG file" logout "$REG_TLS"
eq "XDG file has no entry" "$(jq -r '.auths | length' "$xdg")" 0
printf '{"auths": ' >"$T/broken.json"
cb_fails "a broken auth file is named" "$T/broken.json.*JSON" pull --authfile "$T/broken.json" "${certs[@]}" "$REG_TLS/a/bb:1"
finish
