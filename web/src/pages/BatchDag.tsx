import { useEffect, useState } from "preact/hooks";
import { api, query, type Page } from "../api";
import { PageTitle, ProblemView } from "../components";
import type { DagEdge, DagNode } from "../dag";
import { LiveFeed } from "../live";
import type { Task } from "../tasks";
import { DagView } from "./Dag";

type BatchTask = Pick<Task, "id" | "title" | "status" | "depends_on" | "project_id">;

/** Drawn at most this many tasks of a batch (the graph of one task is capped alike). */
const maximumTasks = 5000;

/** The graph of a batch: its tasks (GET /tasks?batch_id=, page after page) and the dependencies between them. */
export function BatchDagPage({ batchId }: { batchId: string }) {
  const [nodes, setNodes] = useState<DagNode[]>([]);
  const [edges, setEdges] = useState<DagEdge[]>([]);
  const [projectId, setProjectId] = useState<string | null>(null);
  const [truncated, setTruncated] = useState(false);
  const [error, setError] = useState<unknown>(null);

  async function load() {
    try {
      const tasks: BatchTask[] = [];
      let cursor: string | undefined;
      do {
        const page = await api<Page<BatchTask>>(`/tasks${query({
          batch_id: batchId, fields: "id,project_id,title,status,depends_on", limit: "200", cursor,
        })}`);
        tasks.push(...page.data);
        cursor = page.has_more && page.next_cursor ? page.next_cursor : undefined;
      } while (cursor && tasks.length < maximumTasks);
      (window as { dagLoadedAt?: number }).dagLoadedAt = performance.now();
      setTruncated(cursor !== undefined);
      setProjectId(tasks[0]?.project_id ?? null);
      setNodes(tasks.map(({ id, title, status }) => ({ id, title, status })));
      // Only the dependencies within the batch: a parent outside it is not drawn.
      const inBatch = new Set(tasks.map((task) => task.id));
      setEdges(tasks.flatMap((task) => task.depends_on
        .filter((dependency) => inBatch.has(dependency.task_id))
        .map((dependency) => ({ parent_id: dependency.task_id, child_id: task.id }))));
    } catch (failure) {
      setError(failure);
    }
  }

  useEffect(() => {
    void load();
    const feed = new LiveFeed([{ batch_id: batchId }], (event) => {
      if (event.type === "resync") return void load();
      const changed = event.data.task_id;
      const status = event.data.status;
      if (event.type === "task.status_changed" && changed && status)
        setNodes((current) => current.map((node) => (node.id === changed ? { ...node, status } : node)));
    });
    return () => feed.close();
  }, [batchId]);

  return (
    <section>
      <PageTitle>Graph of the batch</PageTitle>
      <ProblemView error={error} />
      <p>
        {projectId && <><a href={`/projects/${projectId}/batches`}>Back to the batches</a>{" · "}</>}
        {nodes.length} tasks, {edges.length} dependencies within the batch
        {truncated ? ` (the first ${nodes.length} tasks only)` : ""}
      </p>
      {!error && nodes.length === 0 ? <p role="status">Loading…</p> : <DagView nodes={nodes} edges={edges} />}
    </section>
  );
}
