# Sourced by the scripts: PATH with the Swift toolchain, and the repo root.
if ! command -v swift >/dev/null 2>&1 && [ -x /opt/swift/usr/bin/swift ]; then
  export PATH=/opt/swift/usr/bin:$PATH
fi
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export MHA_BACKUP_REPO=$REPO
