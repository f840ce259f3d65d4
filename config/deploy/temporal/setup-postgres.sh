#!/bin/sh
# Creates Temporal's two databases on first run and brings their schemas to this image's version on every
# run (the temporal-schema job of docker-compose.yml, run from temporalio/admin-tools).
set -eu
sql() { temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -u "$POSTGRES_USER" -p "$DB_PORT" "$@"; }
for db in temporal temporal_visibility; do
  dir=temporal
  [ "$db" = temporal_visibility ] && dir=visibility
  # Both fail once the database and its schema_version table exist: only a first run needs them.
  # update-schema needs both, so a real failure here still stops the job.
  sql --db "$db" create || true
  sql --db "$db" setup-schema -v 0.0 || true
  sql --db "$db" update-schema -d "/etc/temporal/schema/postgresql/v12/$dir/versioned"
done
echo 'Temporal schemas are up to date'
