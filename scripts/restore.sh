#!/usr/bin/env bash
# Restores a backup made by scripts/backup.sh into an empty database, all or nothing (one transaction), then refreshes
# the planner's statistics. What to do before the service is pointed at it, and after: docs/backup-and-restore.md.
#
# Usage: scripts/restore.sh [--no-owner] <file> <database>
#   <file>      a backup from scripts/backup.sh (pg_dump custom format)
#   <database>  a libpq connection string or URI of an existing, EMPTY database (CREATE DATABASE ... OWNER <the role
#               the migrator uses>); a database that already has tables is refused, so a restore never mixes with
#               live data. The password comes from PGPASSWORD or ~/.pgpass.
#   --no-owner  for a server without the original roles: every object then belongs to the restoring role and the
#               dump's GRANTs are skipped (grant the service's role its rights afterwards)
# Prints the schema version now in the database. pg_restore is installed from Debian's postgresql-client when missing.
set -euo pipefail

die() {
    printf 'restore.sh: %s\n' "$*" >&2
    exit 1
}

ownership=()
if [[ ${1:-} == --no-owner ]]; then
    ownership=(--no-owner --no-privileges)
    shift
fi
(($# == 2)) || die "usage: scripts/restore.sh [--no-owner] <file> <database>"
file=$1
database=$2
[[ -r $file ]] || die "cannot read $file"

if ! command -v pg_restore >/dev/null || ! command -v psql >/dev/null; then
    printf 'restore.sh: installing postgresql-client (Debian package)\n' >&2
    apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql-client >&2
fi

query() { psql --dbname="$database" --no-password -qtAX -v ON_ERROR_STOP=1 -c "$1"; }

tables="$(query "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")"
((tables == 0)) || die "the target database already has $tables tables: restore into a new, empty database"

pg_restore --dbname="$database" --no-password --exit-on-error --single-transaction "${ownership[@]}" "$file"
# pg_restore brings the rows, not the statistics: without them the first queries plan as if every table were empty.
query 'ANALYZE' >/dev/null

printf 'restore.sh: restored %s, schema version %s\n' "$file" "$(query 'SELECT max("Version") FROM "VersionInfo"')"
