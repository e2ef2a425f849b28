#!/usr/bin/env bash
# Makes the non-root user the rootless tests run as, idempotently:
#   - the user (default cbuild-test, or $1) with a home directory,
#   - 65536 subordinate uids and gids in /etc/subuid and /etc/subgid,
#   - newuidmap/newgidmap (the uidmap package) when missing.
# Prints the user's name, ids and how to run a command as it.
# Needs root (or sudo) the first time; when all is in place it changes nothing.
set -euo pipefail

user=${1:-cbuild-test}
count=65536

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    sudo=(sudo -n)
fi
as_root() { "${sudo[@]}" "$@"; }

if ! command -v newuidmap >/dev/null || ! command -v newgidmap >/dev/null; then
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q --no-install-recommends uidmap >/dev/null \
        || { DEBIAN_FRONTEND=noninteractive as_root apt-get update -q >/dev/null &&
             DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q --no-install-recommends uidmap >/dev/null; }
fi

if ! getent passwd "$user" >/dev/null; then
    as_root useradd --create-home --shell /bin/bash --user-group "$user"
fi

# Gives the user a range in FILE unless it already has one. The start is past
# every range already there, so ranges of different users never overlap.
ensure_range() { # file
    local file=$1 start
    as_root touch "$file"
    if grep -q "^$user:" "$file"; then
        return 0
    fi
    start=$(awk -F: 'BEGIN { s = 100000 } { e = $2 + $3; if (e > s) s = e } END { print s }' "$file")
    echo "$user:$start:$count" | as_root tee -a "$file" >/dev/null
}
ensure_range /etc/subuid
ensure_range /etc/subgid

uid=$(id -u "$user")
home=$(getent passwd "$user" | cut -d: -f6)
# Its runtime dir (locks, mounts in flight), as a login session would have it.
runtime=/tmp/$user-run
as_root install -d -m 0700 -o "$user" -g "$(id -g "$user")" "$runtime"
subuid=$(grep "^$user:" /etc/subuid | head -1)
subgid=$(grep "^$user:" /etc/subgid | head -1)
cat <<MSG
rootless test user: $user (uid $uid)
  /etc/subuid: $subuid
  /etc/subgid: $subgid
run a command as it:
  runuser -u $user -- env HOME=$home XDG_RUNTIME_DIR=$runtime COMMAND...
MSG
