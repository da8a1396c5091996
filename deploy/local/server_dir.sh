# Sourced by postgres.sh and influxdb.sh: the folder of a server that runs as an unprivileged user when we
# are root (PostgreSQL as `postgres`, influxd as `nobody`).
#
#   server_dir DIR NAME USER GROUP    print the physical path of DIR, made a folder owned by USER:GROUP,
#                                     mode 0700, that USER can reach
#
# No permission outside DIR is ever changed. When USER cannot reach DIR because a parent folder is closed to
# other users (e.g. a checkout in /root, mode 0700), the server's files live in a folder it can reach,
# /var/lib/qahub/NAME-<hash of DIR's path>, and DIR is a symlink to it (the log says so; remove both to
# start afresh). A DIR that already holds files USER cannot reach is refused, with what to do: moving
# someone's data is theirs to decide.
# The caller defines `log` and `as_owner` (runs a command as USER).

server_dir() {
  local dir=$1 name=$2 user=$3 group=$4 physical target
  mkdir -p "$dir"
  physical=$(cd "$dir" && pwd -P)
  if [ "$(id -u)" -ne 0 ]; then
    echo "$physical"
    return 0
  fi
  if ! as_owner test -x "$(dirname "$physical")"; then
    if [ -n "$(ls -A "$physical")" ]; then
      log "$user cannot reach $physical (a parent folder is closed to other users), which holds files:" \
        "move it where $user can reach it (and point QAHUB_DATA_DIR there), or let $user through its parents"
      exit 1
    fi
    target=/var/lib/qahub/$name-$(printf '%s' "$physical" | sha256sum | cut -c1-12)
    mkdir -p -m 755 /var/lib/qahub
    mkdir -p "$target"
    rmdir "$physical"
    ln -s "$target" "$physical"
    log "$user cannot reach $physical (a parent folder is closed to other users): its files live in $target ($physical links there)"
    physical=$target
  fi
  chown "$user:$group" "$physical"
  chmod 700 "$physical"
  echo "$physical"
}
