using FluentMigrator;

namespace TaskRunner.Migrations;

/// <summary>
/// Attachments of tasks, their content-addressed blobs, and the thumbnail job queue. A blob row exists while storage holds
/// (or is about to hold) its bytes; attachments reference it by foreign key, so a referenced blob can never be purged.
/// </summary>
[Migration(15, "Attachments")]
public sealed class Migration0015Attachments : Migration
{
    public override void Up() => Execute.Sql("""
        -- last_used_at is refreshed just before an upload puts its bytes at the blob's address, so the purge (which takes
        -- only unreferenced blobs unused for a grace period) never deletes bytes an upload is about to reference.
        CREATE TABLE attachment_blobs (
            sha256       text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
            size_bytes   bigint NOT NULL CHECK (size_bytes >= 0),
            created_at   timestamptz NOT NULL DEFAULT now(),
            last_used_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX attachment_blobs_last_used_idx ON attachment_blobs (last_used_at);

        CREATE TABLE attachments (
            id                     uuid PRIMARY KEY,
            task_id                uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
            uploader_id            uuid NOT NULL REFERENCES users (id),
            filename               text NOT NULL CHECK (length(filename) BETWEEN 1 AND 255),
            content_type           text NOT NULL CHECK (length(content_type) BETWEEN 1 AND 100),
            size_bytes             bigint NOT NULL CHECK (size_bytes > 0),
            sha256                 text NOT NULL REFERENCES attachment_blobs (sha256),
            thumbnail_status       text NOT NULL CHECK (thumbnail_status IN ('none', 'pending', 'ready', 'failed')),
            thumbnail_sha256       text REFERENCES attachment_blobs (sha256),
            thumbnail_content_type text,
            thumbnail_error        text,
            created_at             timestamptz NOT NULL DEFAULT now(),
            deleted_at             timestamptz,
            CHECK ((thumbnail_status = 'ready') = (thumbnail_sha256 IS NOT NULL AND thumbnail_content_type IS NOT NULL)),
            CHECK ((thumbnail_status = 'failed') = (thumbnail_error IS NOT NULL))
        );
        -- GET /tasks/{id}/attachments, oldest first, keyset on (created_at, id).
        CREATE INDEX attachments_task_idx ON attachments (task_id, created_at, id);
        CREATE INDEX attachments_deleted_idx ON attachments (deleted_at) WHERE deleted_at IS NOT NULL;
        -- The purge's "still referenced?" probes.
        CREATE INDEX attachments_sha256_idx ON attachments (sha256);
        CREATE INDEX attachments_thumbnail_sha256_idx ON attachments (thumbnail_sha256) WHERE thumbnail_sha256 IS NOT NULL;

        -- The thumbnail queue, narrow like the outbox: a row per image still to do. Claiming moves run_after to the end of
        -- the lease, so a job whose worker died becomes due again; attempts fences a late worker's completion.
        CREATE TABLE thumbnail_jobs (
            attachment_id uuid PRIMARY KEY REFERENCES attachments (id) ON DELETE CASCADE,
            attempts      integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
            run_after     timestamptz NOT NULL DEFAULT now(),
            last_error    text
        );
        CREATE INDEX thumbnail_jobs_due_idx ON thumbnail_jobs (run_after);
        """);

    public override void Down() => Execute.Sql("""
        DROP TABLE thumbnail_jobs;
        DROP TABLE attachments;
        DROP TABLE attachment_blobs;
        """);
}
