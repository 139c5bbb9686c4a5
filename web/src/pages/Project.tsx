import { useEffect, useRef, useState } from "preact/hooks";
import { api, post, query } from "../api";
import { PageTitle, ProblemView, StatusBadge, formatTime } from "../components";
import { LiveFeed } from "../live";
import { navigate, useLocation } from "../router";
import { statuses, type Task } from "../tasks";
import { usePaged } from "../usePaged";
import { PresenceAvatars } from "../presence";

interface Project {
  id: string;
  name: string;
  description: string | null;
}

interface Member {
  user_id: string;
  role: string;
  email: string;
  display_name: string;
}

type SearchHit = Task & { highlights?: { title?: string; description?: string } };

const sorts = [
  ["-created_at", "Newest first"],
  ["created_at", "Oldest first"],
  ["-priority", "Highest priority"],
  ["title", "Title A–Z"],
  ["-updated_at", "Recently updated"],
];

export function ProjectPage({ id }: { id: string }) {
  const [project, setProject] = useState<Project | null>(null);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    api<Project>(`/projects/${id}`).then(setProject, setError);
  }, [id]);

  return (
    <section>
      <PageTitle>{project?.name ?? "Project"}</PageTitle>
      <ProblemView error={error} />
      {project?.description && <p>{project.description}</p>}
      <p><a href={`/projects/${id}/batches`}>Its batches</a></p>
      <PresenceAvatars projectId={id} />
      <p><a href={`/projects/${id}/schedules`}>Schedules of this project</a></p>
      <ProjectTasks projectId={id} />
      <Members projectId={id} />
    </section>
  );
}

function ProjectTasks({ projectId }: { projectId: string }) {
  const { search } = useLocation();
  const status = search.get("status") ?? "";
  const sort = search.get("sort") ?? "-created_at";
  const text = search.get("q") ?? "";
  const batchId = search.get("batch_id") ?? undefined;
  // Search ranks by relevance and marks the matches; without words the list is sorted and filtered.
  const path = text
    ? `/tasks/search${query({ project_id: projectId, q: text, status, limit: "50" })}`
    : `/tasks${query({ project_id: projectId, batch_id: batchId, status, sort, limit: "50" })}`;
  const tasks = usePaged<SearchHit>(path);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [actionError, setActionError] = useState<unknown>(null);
  const [deleteOutcome, setDeleteOutcome] = useState<string | null>(null);
  const [live, setLive] = useState(false);
  const setItems = tasks.setItems;

  useEffect(() => {
    const feed = new LiveFeed(
      [{ project_id: projectId }],
      (event) => {
        if (event.type === "resync" || event.type === "task.created") return void tasks.reload();
        const taskId = event.data.task_id;
        const newStatus = event.data.status;
        if (event.type === "task.status_changed" && taskId && newStatus)
          setItems((items) => items.map((task) => (task.id === taskId ? { ...task, status: newStatus } : task)));
      },
      setLive,
    );
    return () => feed.close();
  }, [projectId, path]);

  function setFilter(name: string, value: string) {
    const next = new URLSearchParams(location.search);
    if (value) next.set(name, value);
    else next.delete(name);
    navigate(`${location.pathname}?${next}`, true);
  }

  async function bulk(action: string) {
    setActionError(null);
    try {
      await post(`/tasks/bulk/${action}`, { ids: [...selected] });
      setSelected(new Set());
      await tasks.reload();
    } catch (failure) {
      setActionError(failure);
    }
  }

  async function deleteSelected() {
    const count = selected.size;
    if (!confirm(`Delete ${count} selected task${count === 1 ? "" : "s"}? Deleted tasks can be restored until they are purged.`)) return;
    setActionError(null);
    setDeleteOutcome(null);
    try {
      const { results } = await api<{ results: { id: string; status: string; error?: string }[] }>("/tasks/bulk", {
        method: "DELETE",
        body: JSON.stringify({ ids: [...selected] }),
      });
      const kept = results.filter((result) => result.status !== "deleted");
      setDeleteOutcome(`${count - kept.length} of ${count} deleted.` + kept.map((result) => ` ${result.id}: ${result.error ?? result.status}.`).join(""));
      setSelected(new Set(kept.map((result) => result.id)));
      await tasks.reload();
    } catch (failure) {
      setActionError(failure);
    }
  }

  function toggle(taskId: string) {
    const next = new Set(selected);
    if (next.has(taskId)) next.delete(taskId);
    else next.add(taskId);
    setSelected(next);
  }

  return (
    <>
      <h2>Tasks <span class="live-state" role="status">{live ? "● live" : "○ connecting"}</span></h2>
      <div class="filters">
        <SearchBox value={text} onSearch={(value) => setFilter("q", value)} />
        <label>
          Status
          <select value={status} onChange={(event) => setFilter("status", (event.target as HTMLSelectElement).value)}>
            <option value="">any</option>
            {statuses.map((value) => <option key={value} value={value}>{value.replace("_", " ")}</option>)}
          </select>
        </label>
        <label>
          Sort
          <select value={sort} disabled={!!text} onChange={(event) => setFilter("sort", (event.target as HTMLSelectElement).value)}>
            {sorts.map(([value, label]) => <option key={value} value={value}>{label}</option>)}
          </select>
        </label>
      </div>
      <div class="bulk" role="toolbar" aria-label="Selected tasks">
        <span>{selected.size} selected</span>
        {["cancel", "pause", "resume", "retry"].map((action) => (
          <button key={action} type="button" disabled={selected.size === 0} onClick={() => void bulk(action)}>
            {action[0].toUpperCase() + action.slice(1)}
          </button>
        ))}
        <button type="button" class="danger" disabled={selected.size === 0} onClick={() => void deleteSelected()}>Delete</button>
      </div>
      {deleteOutcome && <p role="status" class="outcome">{deleteOutcome}</p>}
      <ProblemView error={actionError} />
      <ProblemView error={tasks.error} />
      <table class="list">
        <caption class="visually-hidden">Tasks of this project</caption>
        <thead>
          <tr>
            <th scope="col"><span class="visually-hidden">Select</span></th>
            <th scope="col">Title</th><th scope="col">Status</th><th scope="col">Priority</th><th scope="col">Created</th>
          </tr>
        </thead>
        <tbody>
          {tasks.items.map((task) => (
            <tr key={task.id} data-task-id={task.id}>
              <td>
                <input type="checkbox" aria-label={`Select ${task.title}`} checked={selected.has(task.id)} onChange={() => toggle(task.id)} />
              </td>
              <td>
                <a href={`/tasks/${task.id}`}>
                  {task.highlights?.title ? <Highlighted html={task.highlights.title} /> : task.title}
                </a>
                {task.highlights?.description && <p class="snippet"><Highlighted html={task.highlights.description} /></p>}
              </td>
              <td><StatusBadge status={task.status} cancelReason={task.cancel_reason} /></td>
              <td>{task.priority}</td>
              <td>{formatTime(task.created_at)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {!tasks.loading && tasks.items.length === 0 && !tasks.error && <p>No tasks match.</p>}
      {tasks.more && <button type="button" onClick={tasks.more}>More tasks</button>}
    </>
  );
}

/**
 * The service's highlights are HTML-escaped text with matches in <mark>; they are rebuilt as elements from that one
 * tag, never assigned as HTML.
 */
function Highlighted({ html }: { html: string }) {
  const parts = html.split(/<\/?mark>/);
  const entities: Record<string, string> = { "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&#39;": "'", "&#x27;": "'" };
  const decode = (text: string) => text.replace(/&(amp|lt|gt|quot|#39|#x27);/g, (entity) => entities[entity]);
  return <>{parts.map((part, index) => (index % 2 === 1 ? <mark key={index}>{decode(part)}</mark> : decode(part)))}</>;
}

function SearchBox({ value, onSearch }: { value: string; onSearch: (value: string) => void }) {
  const [text, setText] = useState(value);
  const [suggestions, setSuggestions] = useState<string[]>([]);
  const latest = useRef(0);

  async function suggest(prefix: string) {
    setText(prefix);
    const call = ++latest.current;
    if (prefix.trim().length < 2) return setSuggestions([]);
    try {
      const answer = await api<{ suggestions: string[] }>(`/tasks/search/suggest${query({ q: prefix })}`);
      if (call === latest.current) setSuggestions(answer.suggestions);
    } catch {
      setSuggestions([]);
    }
  }

  return (
    <form role="search" class="search" onSubmit={(event) => { event.preventDefault(); setSuggestions([]); onSearch(text.trim()); }}>
      <label for="task-search">Search tasks</label>
      <input id="task-search" type="search" list="task-suggestions" autocomplete="off" value={text}
        onInput={(event) => void suggest((event.target as HTMLInputElement).value)} />
      <datalist id="task-suggestions">
        {suggestions.map((title) => <option key={title} value={title} />)}
      </datalist>
      <button type="submit">Search</button>
    </form>
  );
}

function Members({ projectId }: { projectId: string }) {
  const members = usePaged<Member>(`/projects/${projectId}/members`);
  const [error, setError] = useState<unknown>(null);

  async function add(event: Event) {
    event.preventDefault();
    const data = new FormData(event.currentTarget as HTMLFormElement);
    setError(null);
    try {
      await post(`/projects/${projectId}/members`, { user_id: String(data.get("user_id")), role: String(data.get("role")) });
      await members.reload();
    } catch (failure) {
      setError(failure);
    }
  }

  return (
    <>
      <h2>Members</h2>
      <ProblemView error={members.error} />
      <ul class="members">
        {members.items.map((member) => (
          <li key={member.user_id}>{member.display_name} &lt;{member.email}&gt; — {member.role}</li>
        ))}
      </ul>
      <form class="inline-form" onSubmit={add}>
        <label for="member-user">User id</label>
        <input id="member-user" name="user_id" required pattern="[0-9a-fA-F-]{36}" />
        <label for="member-role">Role</label>
        <select id="member-role" name="role">
          <option value="viewer">viewer</option>
          <option value="editor">editor</option>
          <option value="owner">owner</option>
        </select>
        <button type="submit">Add member</button>
      </form>
      <ProblemView error={error} />
    </>
  );
}
