using FluentMigrator;

namespace TaskRunner.Migrations;

/// <summary>
/// The query surface of tasks (GET /tasks, /tasks/search, /tasks/search/suggest): a weighted full-text vector, a
/// vocabulary of title words for typo correction, a prefix index for type-ahead, and one keyset index per sort and per
/// selective filter, so that no list, search or suggestion reads the table end to end (docs/performance.md, "Query
/// plans on 1M tasks", shows the plans).
/// </summary>
/// <remarks>
/// The sort indexes are not partial on <c>deleted_at IS NULL</c>: deleted rows are a few percent at most (the retention
/// job purges them), so a partial index would save little, and <c>include_deleted=true</c> could not use it at all.
/// </remarks>
[Migration(8, "Task search and list indexes")]
public sealed class Migration0008TaskSearch : Migration
{
    public override void Up() => Execute.Sql("""
        -- Title (A) above description (B). 'english' rather than 'simple': stemming lets "deploying" find "Deploy" and
        -- drops stop words from the index; the query side uses the same configuration (websearch_to_tsquery('english', ..)).
        -- A stored generated column: PostgreSQL keeps it right on every write, whoever writes.
        ALTER TABLE tasks ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
            setweight(to_tsvector('english', title), 'A') || setweight(to_tsvector('english', coalesce(description, '')), 'B')
        ) STORED;
        -- GET /tasks/search and GET /tasks?q=: search_vector @@ tsquery, for a non-admin together with
        -- project_id = ANY(<the caller's projects>) in the same index scan (btree_gin), so a member's search reads only
        -- the matching rows of its own projects instead of every match and then filtering by access.
        CREATE EXTENSION IF NOT EXISTS btree_gin;
        CREATE INDEX tasks_search_idx ON tasks USING gin (project_id, search_vector);

        -- GET /tasks/search/suggest?q=prefix: a range scan of lower(title) in byte order (the "C" collation makes
        -- LIKE 'prefix%' and ORDER BY the same index order), project_id and title in the index for the access filter
        -- and the answer without touching the table.
        CREATE INDEX tasks_title_prefix_idx ON tasks ((lower(title) COLLATE "C"), project_id) INCLUDE (title)
            WHERE deleted_at IS NULL;

        -- Keyset indexes of the sorts of GET /tasks (id last, the tie-breaker); a b-tree reads both ways, so each serves
        -- its key ascending and descending. Range filters on the same column (created_after, updated_after, priority_min,
        -- scheduled_after/before) use them as well.
        CREATE INDEX tasks_created_idx ON tasks (created_at, id);
        CREATE INDEX tasks_updated_idx ON tasks (updated_at, id);
        CREATE INDEX tasks_priority_idx ON tasks (priority, id);
        -- "Most urgent first, oldest first among equals" (sort=-priority,created_at), the order work is picked in: mixed
        -- directions, so its own index (the expanded keyset predicate gets a range from ListTasks' leading bound).
        CREATE INDEX tasks_priority_created_idx ON tasks (priority DESC, created_at ASC, id ASC);
        CREATE INDEX tasks_title_idx ON tasks (title, id);
        CREATE INDEX tasks_status_sort_idx ON tasks (status, id);
        -- scheduled_at is nullable and sorts NULLS LAST both ways, which one index cannot give in both directions.
        CREATE INDEX tasks_scheduled_idx ON tasks (scheduled_at ASC NULLS LAST, id ASC);
        CREATE INDEX tasks_scheduled_desc_idx ON tasks (scheduled_at DESC NULLS LAST, id DESC);

        -- Selective equality filters with the default order (newest first): status=running, kind=…, assignee_id=…,
        -- concurrency_key=… find their page in one range instead of filtering the created_at index.
        CREATE INDEX tasks_status_created_idx ON tasks (status, created_at, id);
        CREATE INDEX tasks_kind_created_idx ON tasks (kind, created_at, id);
        CREATE INDEX tasks_assignee_created_idx ON tasks (assignee_id, created_at, id) WHERE assignee_id IS NOT NULL;
        CREATE INDEX tasks_concurrency_created_idx ON tasks (concurrency_key, created_at, id) WHERE concurrency_key IS NOT NULL;

        -- The words of all titles, for typo tolerance: a search word found in no title is matched against this small
        -- table by trigram distance (the GiST index answers ORDER BY term <-> word LIMIT n), and the closest word joins
        -- the query. Words are only added (a stale word costs nothing but a useless alternative).
        CREATE TABLE task_title_terms (
            term text PRIMARY KEY CHECK (length(term) BETWEEN 3 AND 40)
        );
        CREATE INDEX task_title_terms_trgm_idx ON task_title_terms USING gist (term gist_trgm_ops);

        -- One statement-level trigger per write statement (a bulk create of 1,000 tasks is one), terms in a fixed order
        -- so concurrent writers adding the same new words wait on each other instead of deadlocking.
        CREATE FUNCTION task_title_terms_add_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO task_title_terms (term)
            SELECT DISTINCT word
            FROM new_rows n, regexp_split_to_table(lower(n.title), '[^[:alpha:]]+') AS word
            WHERE length(word) BETWEEN 3 AND 40
            ORDER BY word
            ON CONFLICT DO NOTHING;
            RETURN NULL;
        END
        $$;
        CREATE FUNCTION task_title_terms_add_updated() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO task_title_terms (term)
            SELECT DISTINCT word
            FROM new_rows n
            JOIN old_rows o ON o.id = n.id AND o.title IS DISTINCT FROM n.title,
                 regexp_split_to_table(lower(n.title), '[^[:alpha:]]+') AS word
            WHERE length(word) BETWEEN 3 AND 40
            ORDER BY word
            ON CONFLICT DO NOTHING;
            RETURN NULL;
        END
        $$;
        CREATE TRIGGER tasks_title_terms_insert AFTER INSERT ON tasks
            REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION task_title_terms_add_inserted();
        CREATE TRIGGER tasks_title_terms_update AFTER UPDATE ON tasks
            REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION task_title_terms_add_updated();
        INSERT INTO task_title_terms (term)
        SELECT DISTINCT word FROM tasks, regexp_split_to_table(lower(title), '[^[:alpha:]]+') AS word
        WHERE length(word) BETWEEN 3 AND 40
        ON CONFLICT DO NOTHING;
        """);

    public override void Down() => Execute.Sql("""
        DROP TRIGGER tasks_title_terms_update ON tasks;
        DROP TRIGGER tasks_title_terms_insert ON tasks;
        DROP FUNCTION task_title_terms_add_updated();
        DROP FUNCTION task_title_terms_add_inserted();
        DROP TABLE task_title_terms;
        DROP INDEX tasks_concurrency_created_idx;
        DROP INDEX tasks_assignee_created_idx;
        DROP INDEX tasks_kind_created_idx;
        DROP INDEX tasks_status_created_idx;
        DROP INDEX tasks_scheduled_desc_idx;
        DROP INDEX tasks_scheduled_idx;
        DROP INDEX tasks_status_sort_idx;
        DROP INDEX tasks_title_idx;
        DROP INDEX tasks_priority_created_idx;
        DROP INDEX tasks_priority_idx;
        DROP INDEX tasks_updated_idx;
        DROP INDEX tasks_created_idx;
        DROP INDEX tasks_title_prefix_idx;
        DROP INDEX tasks_search_idx;
        ALTER TABLE tasks DROP COLUMN search_vector;
        DROP EXTENSION IF EXISTS btree_gin;
        """);
}
