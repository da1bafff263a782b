# Sourced by the scripts: PATH with the Swift toolchain, and the repo root.
if ! command -v swift >/dev/null 2>&1 && [ -x /opt/swift/usr/bin/swift ]; then
  export PATH=/opt/swift/usr/bin:$PATH
fi
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export MHA_BACKUP_REPO=$REPO

# The scripts that need root (test, demo, install-deps) call this first: as root they go on; as
# another user they run themselves again through sudo when it is installed, else say to run them
# as root (a fresh Debian 12 container often has no sudo).
need_root() {
  [ "$(id -u)" = 0 ] && return 0
  if command -v sudo >/dev/null 2>&1; then
    exec sudo -E bash "$0" "$@"
  fi
  echo "$(basename "$0"): run as root (su -c 'bash $0', or install sudo)" >&2
  exit 1
}
