using FluentMigrator;

namespace TaskRunner.Migrations;

/// <summary>
/// The event log's writers stop NOTIFYing (migrations 23 and 30): every node with real-time clients reads the log on a short
/// poll instead. A NOTIFY makes its transaction take one cluster-wide lock at commit and hold it through the commit's WAL
/// flush, so every transaction that wrote an event — a presence row, a comment, a running task's status — committed after
/// the one before it (docs/performance.md "Real time": opening 19,000 sockets, each inserting its presence row, took
/// 145–162 s with the NOTIFY and 63 s without). Each trigger function is rewritten from its own definition, without the call.
/// </summary>
[Migration(35, "Event log without NOTIFY")]
public sealed class Migration0035EventLogWithoutNotify : Migration
{
    private const string Functions = """
        ARRAY['record_task_inserts()', 'record_task_updates()', 'record_comment_inserts()', 'record_comment_deletions()',
              'record_member_changes()', 'announce_presence(uuid[], uuid[], uuid[], integer[])']::regprocedure[]
        """;

    public override void Up() => Execute.Sql($$"""
        DO $do$
        DECLARE f regprocedure; rewritten text;
        BEGIN
            FOREACH f IN ARRAY {{Functions}} LOOP
                rewritten := replace(pg_get_functiondef(f), E'\n    PERFORM notify_events(last_id);', '');
                -- A body that drifted from migrations 23 and 30 would keep calling the function dropped below.
                IF rewritten = pg_get_functiondef(f) THEN
                    RAISE EXCEPTION '% does not call notify_events as migrations 23 and 30 wrote it', f;
                END IF;
                EXECUTE rewritten;
            END LOOP;
        END
        $do$;
        DROP FUNCTION notify_events(bigint);
        """);

    public override void Down() => Execute.Sql($$"""
        CREATE FUNCTION notify_events(last_id bigint) RETURNS void LANGUAGE sql AS $$
            SELECT pg_notify('taskrunner_events', last_id::text) WHERE last_id IS NOT NULL
        $$;
        DO $do$
        DECLARE f regprocedure; restored text;
        BEGIN
            FOREACH f IN ARRAY {{Functions}} LOOP
                restored := regexp_replace(pg_get_functiondef(f), E'\n((    RETURN NULL;\n)?END\n\\$function\\$)',
                    E'\n    PERFORM notify_events(last_id);\n\\1');
                IF restored = pg_get_functiondef(f) THEN
                    RAISE EXCEPTION '% does not end as migrations 23 and 30 wrote it', f;
                END IF;
                EXECUTE restored;
            END LOOP;
        END
        $do$;
        """);
}
