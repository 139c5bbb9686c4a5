using FluentMigrator;

namespace TaskRunner.Migrations;

/// <summary>
/// Workflows: named, versioned DAG definitions of a project. A version is immutable (a trigger refuses updates) and keeps
/// both the source as sent (YAML or JSON) and its JSON form, which runs read. A run records which version made which
/// batch of tasks, with its parameters.
/// </summary>
[Migration(16, "Workflows")]
public sealed class Migration0016Workflows : Migration
{
    public override void Up() => Execute.Sql("""
        CREATE TABLE workflows (
            id              uuid PRIMARY KEY,
            project_id      uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
            name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
            description     text CHECK (length(description) <= 10000),
            default_version integer NOT NULL CHECK (default_version >= 1),
            latest_version  integer NOT NULL CHECK (latest_version >= default_version),
            created_by      uuid NOT NULL REFERENCES users (id),
            created_at      timestamptz NOT NULL DEFAULT now(),
            updated_at      timestamptz NOT NULL DEFAULT now(),
            deleted_at      timestamptz,
            version         bigint NOT NULL DEFAULT 1
        );
        CREATE TRIGGER workflows_version BEFORE UPDATE ON workflows FOR EACH ROW EXECUTE FUNCTION bump_row_version();
        -- A name is unique among the live workflows of a project; the list reads a project's workflows newest first.
        CREATE UNIQUE INDEX workflows_name_idx ON workflows (project_id, name) WHERE deleted_at IS NULL;
        CREATE INDEX workflows_project_idx ON workflows (project_id, created_at DESC, id DESC);

        CREATE TABLE workflow_versions (
            -- A list cursor's tie-breaker; the number names a version in the API.
            id            uuid NOT NULL UNIQUE,
            workflow_id   uuid NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
            number        integer NOT NULL CHECK (number >= 1),
            definition    jsonb NOT NULL CHECK (jsonb_typeof(definition) = 'object'),
            source        text NOT NULL,
            source_format text NOT NULL CHECK (source_format IN ('yaml', 'json')),
            created_by    uuid NOT NULL REFERENCES users (id),
            created_at    timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (workflow_id, number)
        );
        CREATE FUNCTION workflow_versions_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'a workflow version never changes; add a new version instead' USING ERRCODE = 'check_violation';
        END
        $$;
        CREATE TRIGGER workflow_versions_immutable BEFORE UPDATE ON workflow_versions
            FOR EACH ROW EXECUTE FUNCTION workflow_versions_immutable();
        -- Deferred: a workflow and its first version are inserted in one transaction, the workflow first.
        ALTER TABLE workflows ADD CONSTRAINT workflows_default_version_fk FOREIGN KEY (id, default_version)
            REFERENCES workflow_versions (workflow_id, number) DEFERRABLE INITIALLY DEFERRED;

        CREATE TABLE workflow_runs (
            id          uuid PRIMARY KEY,
            workflow_id uuid NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
            version     integer NOT NULL,
            batch_id    uuid NOT NULL UNIQUE,
            params      jsonb NOT NULL CHECK (jsonb_typeof(params) = 'object'),
            created_by  uuid NOT NULL REFERENCES users (id),
            created_at  timestamptz NOT NULL DEFAULT now(),
            FOREIGN KEY (workflow_id, version) REFERENCES workflow_versions (workflow_id, number)
        );
        -- GET /workflows/{id}/runs, newest first.
        CREATE INDEX workflow_runs_list_idx ON workflow_runs (workflow_id, created_at DESC, id DESC);
        """);

    public override void Down() => Execute.Sql("""
        DROP TABLE workflow_runs;
        ALTER TABLE workflows DROP CONSTRAINT workflows_default_version_fk;
        DROP TABLE workflow_versions;
        DROP FUNCTION workflow_versions_immutable();
        DROP TABLE workflows;
        """);
}
