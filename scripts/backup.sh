#!/usr/bin/env bash
# Backs up a TaskRunner database into one file: pg_dump's custom format (compressed; pg_restore can restore it whole or
# table by table), taken from one consistent snapshot while the service keeps running. The procedure around it, and
# point-in-time recovery with base backups and WAL, are in docs/backup-and-restore.md.
#
# Usage: scripts/backup.sh <database> <file>
#   <database>  a libpq connection string or URI, e.g. "host=db.internal dbname=taskrunner user=taskrunner_backup"
#               or "postgresql://taskrunner_backup@db.internal/taskrunner"; the password comes from PGPASSWORD or
#               ~/.pgpass (never put it on a command line: other users see the process list)
#   <file>      where the backup goes; written under a temporary name and renamed when complete
# Prints the schema version the backup holds. pg_dump must be of the server's major version or newer; it is installed
# from Debian's postgresql-client when missing.
set -euo pipefail

die() {
    printf 'backup.sh: %s\n' "$*" >&2
    exit 1
}

(($# == 2)) || die "usage: scripts/backup.sh <database> <file>"
database=$1
file=$2

if ! command -v pg_dump >/dev/null || ! command -v pg_restore >/dev/null; then
    printf 'backup.sh: installing postgresql-client (Debian package)\n' >&2
    apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql-client >&2
fi

partial="$file.partial"
trap 'rm -f "$partial"' EXIT
# --no-password: fail at once instead of waiting for a prompt nobody answers in a cron job.
pg_dump --dbname="$database" --no-password --format=custom --file="$partial"
# A backup is only as good as its archive: read its table of contents back before calling it done.
pg_restore --list "$partial" >/dev/null || die "the archive pg_dump wrote cannot be read back"
mv "$partial" "$file"

# The schema version inside the archive (FluentMigrator's VersionInfo rows), read from the file itself.
version="$(pg_restore --data-only --table=VersionInfo --file=- "$file" |
    awk '/^COPY / { rows = 1; next } /^\\\.$/ { rows = 0 } rows && $1 + 0 > max { max = $1 + 0 } END { print max + 0 }')"
printf 'backup.sh: %s (%s bytes), schema version %s\n' "$file" "$(stat -c %s "$file")" "$version"
