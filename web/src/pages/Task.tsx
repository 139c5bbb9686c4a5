import { useEffect, useState } from "preact/hooks";
import { api, post } from "../api";
import { PageTitle, ProblemView, StatusBadge, formatTime } from "../components";
import { TaskDeliveries } from "../deliveries";
import { LiveFeed } from "../live";
import { TaskAttachments } from "./TaskAttachments";
import { waitingInWords, type Task } from "../tasks";
import { usePaged } from "../usePaged";
import { PresenceAvatars } from "../presence";

interface Comment {
  id: string;
  author_id: string;
  body: string;
  created_at: string;
}

interface AuditEntry {
  id: string;
  action: string;
  actor_user_id: string | null;
  actor_api_key_id: string | null;
  diff: unknown;
  occurred_at: string;
}

const actionsByStatus: Record<string, string[]> = {
  pending: ["cancel", "pause"],
  paused: ["resume", "cancel"],
  running: ["cancel"],
  failed: ["retry"],
  cancelled: ["retry"],
  timed_out: ["retry"],
};

export function TaskPage({ id }: { id: string }) {
  const [task, setTask] = useState<Task | null>(null);
  const [parents, setParents] = useState<Task[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [actionError, setActionError] = useState<unknown>(null);
  const comments = usePaged<Comment>(`/tasks/${id}/comments?limit=100`);
  const audit = usePaged<AuditEntry>(`/tasks/${id}/audit?limit=50`);

  async function load() {
    try {
      const loaded = await api<Task>(`/tasks/${id}`);
      setTask(loaded);
      setParents(await Promise.all(loaded.depends_on.map((dependency) => api<Task>(`/tasks/${dependency.task_id}`))));
    } catch (failure) {
      setError(failure);
    }
  }

  useEffect(() => {
    void load();
    const feed = new LiveFeed([{ task_id: id }], (event) => {
      if (event.type.startsWith("task.") || event.type === "resync") void load().then(audit.reload);
      if (event.type.startsWith("comment.") || event.type === "resync") void comments.reload();
    });
    return () => feed.close();
  }, [id]);

  async function act(action: string) {
    setActionError(null);
    try {
      await post(`/tasks/${id}/${action}`);
      await load();
    } catch (failure) {
      setActionError(failure);
    }
  }

  async function addComment(event: Event) {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const body = String(new FormData(form).get("body"));
    setActionError(null);
    try {
      await post(`/tasks/${id}/comments`, { body });
      form.reset();
      await comments.reload();
    } catch (failure) {
      setActionError(failure);
    }
  }

  if (!task) return <section><PageTitle>Task</PageTitle><ProblemView error={error} /></section>;
  const waiting = waitingInWords(task.waiting_on);

  return (
    <section>
      <PageTitle>{task.title}</PageTitle>
      <p>
        <StatusBadge status={task.status} cancelReason={task.cancel_reason} />{" "}
        <a href={`/tasks/${id}/dag`}>Show its graph</a>{" · "}
        <a href={`/projects/${task.project_id}`}>Back to the project</a>
      </p>
      <PresenceAvatars projectId={task.project_id} taskId={id} />
      {waiting && <p class="waiting">{waiting}</p>}
      <div class="actions">
        {(actionsByStatus[task.status] ?? []).map((action) => (
          <button key={action} type="button" onClick={() => void act(action)}>{action[0].toUpperCase() + action.slice(1)} task</button>
        ))}
      </div>
      <ProblemView error={actionError} />
      <dl class="fields">
        <dt>Kind</dt><dd>{task.kind}</dd>
        <dt>Priority</dt><dd>{task.priority}</dd>
        <dt>Attempt</dt><dd>{task.attempt} of {task.max_retries + 1}</dd>
        <dt>Created</dt><dd>{formatTime(task.created_at)}</dd>
        <dt>Started</dt><dd>{formatTime(task.started_at)}</dd>
        <dt>Ended</dt><dd>{formatTime(task.ended_at)}</dd>
        <dt>Scheduled</dt><dd>{formatTime(task.scheduled_at)}</dd>
        <dt>Concurrency key</dt><dd>{task.concurrency_key ?? "—"}</dd>
        <dt>Batch</dt><dd>{task.batch_id ?? "—"}</dd>
        {task.error && <><dt>Error</dt><dd>{task.error}</dd></>}
      </dl>
      {task.description && <><h2>Description</h2><p class="description">{task.description}</p></>}
      {task.output != null && <><h2>Output</h2><pre>{JSON.stringify(task.output, null, 2)}</pre></>}
      <h2>Parents</h2>
      {parents.length === 0 ? <p>No parents.</p> : (
        <ul class="parents">
          {parents.map((parent) => (
            <li key={parent.id}>
              <a href={`/tasks/${parent.id}`}>{parent.title}</a> <StatusBadge status={parent.status} cancelReason={parent.cancel_reason} />
              {parent.output != null && <pre>{JSON.stringify(parent.output, null, 2)}</pre>}
            </li>
          ))}
        </ul>
      )}
      <h2>Comments</h2>
      <ProblemView error={comments.error} />
      <ol class="comments">
        {comments.items.map((comment) => (
          <li key={comment.id}><p>{comment.body}</p><small>{formatTime(comment.created_at)}</small></li>
        ))}
      </ol>
      <form class="comment-form" onSubmit={addComment}>
        <label for="comment-body">New comment</label>
        <textarea id="comment-body" name="body" required maxLength={10000} rows={3} />
        <button type="submit">Add comment</button>
      </form>
      <TaskAttachments taskId={id} />
      <TaskDeliveries taskId={id} />
      <h2>Audit trail</h2>
      <ProblemView error={audit.error} />
      <table class="list">
        <caption class="visually-hidden">Changes to this task, newest first</caption>
        <thead><tr><th scope="col">When</th><th scope="col">Action</th><th scope="col">By</th><th scope="col">Change</th></tr></thead>
        <tbody>
          {audit.items.map((entry) => (
            <tr key={entry.id}>
              <td>{formatTime(entry.occurred_at)}</td>
              <td>{entry.action}</td>
              <td>{entry.actor_user_id ?? entry.actor_api_key_id ?? "the engine"}</td>
              <td><code>{entry.diff ? JSON.stringify(entry.diff) : ""}</code></td>
            </tr>
          ))}
        </tbody>
      </table>
      {audit.more && <button type="button" onClick={audit.more}>Older changes</button>}
    </section>
  );
}
