import { useEffect, useMemo, useState } from "preact/hooks";
import { api } from "../api";
import { PageTitle, ProblemView } from "../components";
import { layout, nodeHeight, nodeWidth, type DagEdge, type DagNode } from "../dag";
import { LiveFeed } from "../live";
import { navigate } from "../router";
import type { Task } from "../tasks";

interface Graph {
  task_id: string;
  ancestors: DagNode[];
  descendants: DagNode[];
  edges: DagEdge[];
  truncated: boolean;
}

export function DagPage({ taskId }: { taskId: string }) {
  const [nodes, setNodes] = useState<DagNode[]>([]);
  const [edges, setEdges] = useState<DagEdge[]>([]);
  const [truncated, setTruncated] = useState(false);
  const [error, setError] = useState<unknown>(null);

  async function load() {
    try {
      const [task, graph] = await Promise.all([api<Task>(`/tasks/${taskId}`), api<Graph>(`/tasks/${taskId}/graph`)]);
      (window as { dagLoadedAt?: number }).dagLoadedAt = performance.now();
      setNodes([...graph.ancestors, { id: task.id, title: task.title, status: task.status }, ...graph.descendants]);
      setEdges(graph.edges);
      setTruncated(graph.truncated);
    } catch (failure) {
      setError(failure);
    }
  }

  useEffect(() => {
    void load();
    const feed = new LiveFeed([{ task_id: taskId }], (event) => {
      const changed = event.data.task_id;
      const status = event.data.status;
      if (event.type === "task.status_changed" && changed && status)
        setNodes((current) => current.map((node) => (node.id === changed ? { ...node, status } : node)));
    });
    return () => feed.close();
  }, [taskId]);

  return (
    <section>
      <PageTitle>Graph of the task</PageTitle>
      <ProblemView error={error} />
      <p>
        <a href={`/tasks/${taskId}`}>Back to the task</a>{" · "}
        {nodes.length} tasks, {edges.length} dependencies{truncated ? " (truncated)" : ""}
      </p>
      <DagView nodes={nodes} edges={edges} currentId={taskId} />
    </section>
  );
}

/** The graph drawn (layered, coloured by status, each node a link to its task), with the time it took to draw. */
export function DagView({ nodes, edges, currentId }: { nodes: DagNode[]; edges: DagEdge[]; currentId?: string }) {
  const [renderMilliseconds, setRenderMilliseconds] = useState<number | null>(null);
  const drawing = useMemo(() => layout(nodes, edges), [nodes, edges]);
  const at = useMemo(() => new Map(drawing.placed.map((node) => [node.id, node])), [drawing]);

  useEffect(() => {
    if (nodes.length === 0) return;
    // Measured from the graph's arrival to the first frame painted after the SVG is in the document.
    requestAnimationFrame(() => {
      const loadedAt = (window as { dagLoadedAt?: number }).dagLoadedAt ?? performance.now();
      setRenderMilliseconds(Math.round(performance.now() - loadedAt));
    });
  }, [drawing]);

  return (
    <>
      {renderMilliseconds !== null && <p class="render-time" data-ms={renderMilliseconds}>Drawn in {renderMilliseconds} ms.</p>}
      <ul class="legend" aria-label="Status colours">
        {["pending", "paused", "running", "succeeded", "failed", "cancelled", "timed_out"].map((status) => (
          <li key={status}><span class={`swatch status-${status}`} aria-hidden="true" /> {status.replace("_", " ")}</li>
        ))}
      </ul>
      <div class="dag-scroll">
        <svg class="dag" width={drawing.width + 2} height={drawing.height + 2} role="group" aria-label={`Dependency graph of ${nodes.length} tasks`}>
          <g class="edges" aria-hidden="true">
            {edges.map((edge) => {
              const from = at.get(edge.parent_id);
              const to = at.get(edge.child_id);
              if (!from || !to) return null;
              const x1 = from.x + nodeWidth;
              const y1 = from.y + nodeHeight / 2;
              const x2 = to.x;
              const y2 = to.y + nodeHeight / 2;
              const bend = (x2 - x1) / 2;
              return <path key={`${edge.parent_id}>${edge.child_id}`} d={`M${x1} ${y1}C${x1 + bend} ${y1} ${x2 - bend} ${y2} ${x2} ${y2}`} />;
            })}
          </g>
          {drawing.placed.map((node) => (
            <a key={node.id} href={`/tasks/${node.id}`} aria-label={`${node.title}: ${node.status.replace("_", " ")}`}
              class={node.id === currentId ? "node current" : "node"}
              onClick={(event) => { event.preventDefault(); navigate(`/tasks/${node.id}`); }}>
              <rect class={`status-${node.status}`} x={node.x + 1} y={node.y + 1} width={nodeWidth} height={nodeHeight} rx="6" />
              <text x={node.x + 9} y={node.y + nodeHeight / 2 + 5}>{node.title.length > 20 ? `${node.title.slice(0, 19)}…` : node.title}</text>
            </a>
          ))}
        </svg>
      </div>
    </>
  );
}
