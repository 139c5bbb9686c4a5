using FluentMigrator;

namespace TaskRunner.Migrations;

/// <summary>
/// Graph walks that outgrow one transaction (Engine:GraphWalkBatchSize): the walk, written in the transaction of its first
/// batch, and its frontier, the tasks whose children are still to be visited. A walk whose driver stopped renewing
/// <c>resume_at</c> (its process died) is resumed by the leader's sweeper.
/// </summary>
[Migration(18, "GraphWalks")]
public sealed class Migration0018GraphWalks : Migration
{
    public override void Up() => Execute.Sql("""
        CREATE TABLE graph_walks (
            id uuid PRIMARY KEY,
            started_at timestamptz NOT NULL DEFAULT now(),
            resume_at timestamptz NOT NULL,
            batches integer NOT NULL DEFAULT 1,
            rows bigint NOT NULL DEFAULT 0
        );
        CREATE INDEX graph_walks_resume_idx ON graph_walks (resume_at);

        -- A task is in at most one frontier: it enters when its end is propagated, a retry takes it out.
        -- after_child: the children up to this id have been visited (the nil uuid: none yet).
        CREATE TABLE graph_walk_frontier (
            task_id uuid PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
            walk_id uuid NOT NULL REFERENCES graph_walks (id) ON DELETE CASCADE,
            succeeded boolean NOT NULL,
            after_child uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000'
        );
        CREATE INDEX graph_walk_frontier_walk_idx ON graph_walk_frontier (walk_id, task_id);
        """);

    public override void Down() => Execute.Sql("""
        DROP TABLE graph_walk_frontier;
        DROP TABLE graph_walks;
        """);
}
