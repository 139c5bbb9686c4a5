import { useEffect, useState } from "preact/hooks";
import { api } from "../api";
import { AdminOnly } from "../access";
import { PageTitle, ProblemView, formatTime } from "../components";
import { formatAge } from "../widgets";

interface ServiceNode {
  id: string;
  name: string;
  version: string;
  status: "alive" | "stale" | "stopped";
  is_leader: boolean;
  started_at: string;
  last_heartbeat_at: string;
  leader_since: string | null;
  stopped_at: string | null;
}

/** Read again as often as nodes heartbeat by default (Cluster:HeartbeatSeconds), so ages and the leader stay current. */
const refreshMilliseconds = 5000;

export function NodesPage() {
  return <AdminOnly title="Nodes"><NodeList /></AdminOnly>;
}

function NodeList() {
  const [nodes, setNodes] = useState<ServiceNode[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [readAt, setReadAt] = useState(Date.now());

  async function load() {
    try {
      setNodes((await api<{ data: ServiceNode[] }>("/nodes")).data);
      setReadAt(Date.now());
      setError(null);
    } catch (failure) {
      setError(failure);
    }
  }

  useEffect(() => {
    void load();
    const timer = setInterval(() => void load(), refreshMilliseconds);
    return () => clearInterval(timer);
  }, []);

  const leader = nodes?.find((node) => node.is_leader);
  return (
    <section>
      <PageTitle>Nodes</PageTitle>
      <ProblemView error={error} />
      {nodes && (
        <p class="leader-summary" role="status">
          {leader ? <>Leader: <strong>{leader.name}</strong> since {formatTime(leader.leader_since)}.</> : "No node leads right now."}{" "}
          {nodes.filter((node) => node.status === "alive").length} of {nodes.length} nodes alive.
        </p>
      )}
      <table class="list">
        <caption class="visually-hidden">Service nodes, live ones first</caption>
        <thead>
          <tr>
            <th scope="col">Node</th><th scope="col">Status</th><th scope="col">Last heartbeat</th><th scope="col">Version</th>
            <th scope="col">Started</th>
          </tr>
        </thead>
        <tbody>
          {(nodes ?? []).map((node) => (
            <tr key={node.id} data-node-id={node.id}>
              <td>{node.name} {node.is_leader && <span class="badge leader">leader</span>}<br /><small>{node.id}</small></td>
              <td><span class={`status node-${node.status}`}>{node.status}</span></td>
              <td>{formatAge(node.last_heartbeat_at, readAt)}<br /><small>{formatTime(node.last_heartbeat_at)}</small></td>
              <td>{node.version}</td>
              <td>{formatTime(node.started_at)}{node.stopped_at && <><br /><small>stopped {formatTime(node.stopped_at)}</small></>}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <button type="button" class="secondary" onClick={() => void load()}>Refresh now</button>
    </section>
  );
}
