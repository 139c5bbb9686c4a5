import { useEffect, useState } from "preact/hooks";
import { api, post } from "../api";
import { PageTitle, ProblemView, formatTime } from "../components";
import { LiveFeed } from "../live";
import { statuses } from "../tasks";
import { usePaged } from "../usePaged";

export interface BatchSummary {
  batch_id: string;
  project_id: string;
  total: number;
  counts: Record<string, number>;
  created_at: string;
}

const finished = ["succeeded", "failed", "cancelled", "timed_out"];
const actions = ["pause", "resume", "cancel", "retry"];

/** A project's batches, newest first, with their progress (live) and the batch commands. */
export function BatchesPage({ projectId }: { projectId: string }) {
  const batches = usePaged<BatchSummary>(`/batches?project_id=${projectId}&limit=20`);
  const [error, setError] = useState<unknown>(null);
  const [live, setLive] = useState(false);
  const setItems = batches.setItems;

  const replace = (changed: { batch_id: string; total: number; counts: Record<string, number> }) =>
    setItems((items) => items.map((item) => (item.batch_id === changed.batch_id ? { ...item, ...changed } : item)));

  useEffect(() => {
    const feed = new LiveFeed([{ project_id: projectId }], (event) => {
      if (event.type === "resync") return void batches.reload();
      const batchId = event.data.batch_id;
      if (event.type === "batch.progress" && typeof batchId === "string")
        api<BatchSummary>(`/batches/${batchId}`).then(replace, () => undefined);
    }, setLive);
    return () => feed.close();
  }, [projectId]);

  async function act(batch: BatchSummary, action: string) {
    if (action === "cancel" && !confirm(`Cancel every unfinished task of the batch created ${formatTime(batch.created_at)}?`)) return;
    setError(null);
    try {
      replace(await post<BatchSummary>(`/batches/${batch.batch_id}/${action}`));
    } catch (failure) {
      setError(failure);
    }
  }

  return (
    <section>
      <PageTitle>Batches</PageTitle>
      <p>
        <a href={`/projects/${projectId}`}>Back to the project</a>{" "}
        <span class="live-state" role="status">{live ? "● live" : "○ connecting"}</span>
      </p>
      <ProblemView error={batches.error} />
      <ProblemView error={error} />
      {batches.items.length === 0 && !batches.loading && !batches.error && <p>No batches: bulk creates, workflow runs and schedules make them.</p>}
      <ul class="batches">
        {batches.items.map((batch) => (
          <li key={batch.batch_id} data-batch-id={batch.batch_id}>
            <h2>Batch of {formatTime(batch.created_at)}</h2>
            <BatchProgress batch={batch} />
            <div class="actions">
              <a href={`/batches/${batch.batch_id}/dag`}>Show its graph</a>
              <a href={`/projects/${projectId}?batch_id=${batch.batch_id}`}>Its tasks</a>
              {actions.map((action) => (
                <button key={action} type="button" onClick={() => void act(batch, action)}
                  aria-label={`${capitalized(action)} the batch of ${formatTime(batch.created_at)}`}>
                  {capitalized(action)}
                </button>
              ))}
            </div>
          </li>
        ))}
      </ul>
      {batches.more && <button type="button" onClick={batches.more}>Older batches</button>}
    </section>
  );
}

/** A bar of the batch's tasks by status (the same colours as the badges), and the counts written out. */
function BatchProgress({ batch }: { batch: BatchSummary }) {
  const done = finished.reduce((sum, status) => sum + (batch.counts[status] ?? 0), 0);
  const percent = batch.total === 0 ? 0 : Math.round((done * 100) / batch.total);
  return (
    <>
      <div class="progress" role="progressbar" aria-valuemin={0} aria-valuemax={batch.total} aria-valuenow={done}
        aria-label={`Batch of ${formatTime(batch.created_at)}: ${done} of ${batch.total} finished`}>
        {statuses.filter((status) => batch.counts[status]).map((status) => (
          <span key={status} class={`segment status-${status}`} style={{ width: `${(batch.counts[status] * 100) / batch.total}%` }} />
        ))}
      </div>
      <p class="progress-text">
        {done} of {batch.total} finished ({percent} %):{" "}
        {statuses.filter((status) => batch.counts[status]).map((status) => `${batch.counts[status]} ${status.replace("_", " ")}`).join(", ")}
      </p>
    </>
  );
}

const capitalized = (text: string) => text[0].toUpperCase() + text.slice(1);
