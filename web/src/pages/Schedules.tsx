import { useEffect, useState } from "preact/hooks";
import { api, patch, post, query, remove } from "../api";
import { PageTitle, ProblemView, formatTime } from "../components";
import { usePaged } from "../usePaged";
import { ConfirmButton, formFields } from "../widgets";

interface Schedule {
  id: string;
  cron: string;
  timezone: string;
  task: { title?: string; kind?: string } | null;
  workflow: { workflow_id: string; version: number | null } | null;
  enabled: boolean;
  overlap_policy: string;
  next_fire_at: string | null;
  last_fire_at: string | null;
}

type Mode = "cron" | "once";

export function SchedulesPage({ projectId }: { projectId: string }) {
  const [projectName, setProjectName] = useState<string | null>(null);
  const schedules = usePaged<Schedule>(`/schedules${query({ project_id: projectId, limit: "50" })}`);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    api<{ name: string }>(`/projects/${projectId}`).then((project) => setProjectName(project.name), setError);
  }, [projectId]);

  async function change(action: () => Promise<unknown>) {
    setError(null);
    try {
      await action();
      await schedules.reload();
    } catch (failure) {
      setError(failure);
    }
  }

  return (
    <section>
      <PageTitle>Schedules{projectName ? ` of ${projectName}` : ""}</PageTitle>
      <p><a href={`/projects/${projectId}`}>Back to the project</a></p>
      <ProblemView error={schedules.error} />
      <ProblemView error={error} />
      <table class="list">
        <caption class="visually-hidden">Schedules of this project, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Creates</th><th scope="col">When</th><th scope="col">Next fire</th><th scope="col">Last fire</th>
            <th scope="col">State</th><th scope="col"><span class="visually-hidden">Actions</span></th>
          </tr>
        </thead>
        <tbody>
          {schedules.items.map((schedule) => {
            const target = schedule.task?.title ?? (schedule.workflow ? `a run of workflow ${schedule.workflow.workflow_id}` : "—");
            return (
              <tr key={schedule.id} data-schedule-id={schedule.id}>
                <td>{target}</td>
                <td><code>{schedule.cron}</code> <small>({schedule.timezone})</small></td>
                <td class="next-fire">{schedule.enabled ? formatTime(schedule.next_fire_at) : "— (paused)"}</td>
                <td>{formatTime(schedule.last_fire_at)}</td>
                <td class="schedule-state">{schedule.enabled ? "active" : "paused"}</td>
                <td class="row-actions">
                  <button type="button" class="secondary" aria-label={`${schedule.enabled ? "Pause" : "Resume"} ${target}`}
                    onClick={() => void change(() => patch(`/schedules/${schedule.id}`, { enabled: !schedule.enabled }))}>
                    {schedule.enabled ? "Pause" : "Resume"}
                  </button>{" "}
                  <ConfirmButton label="Delete" question={`Delete the schedule of ${target}? Tasks it created stay.`}
                    onConfirm={() => void change(() => remove(`/schedules/${schedule.id}`))} />
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {!schedules.loading && schedules.items.length === 0 && !schedules.error && <p>No schedules yet.</p>}
      {schedules.more && <button type="button" onClick={schedules.more}>More schedules</button>}
      <NewSchedule projectId={projectId} onCreated={() => void schedules.reload()} />
    </section>
  );
}

/**
 * A schedule repeats a task template on a cron expression; "once" has no schedule of its own in the API: it is a task
 * with `scheduled_at`, which the engine holds until then (its page says so in words).
 */
function NewSchedule({ projectId, onCreated }: { projectId: string; onCreated: () => void }) {
  const [mode, setMode] = useState<Mode>("cron");
  const [error, setError] = useState<unknown>(null);
  const [created, setCreated] = useState<{ id: string; title: string; scheduled_at: string } | null>(null);

  async function create(event: Event) {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const fields = formFields(form);
    const task = {
      title: fields.title,
      kind: fields.kind,
      description: fields.description,
      priority: fields.priority === undefined ? undefined : Number(fields.priority),
    };
    setError(null);
    setCreated(null);
    try {
      if (mode === "cron") {
        await post("/schedules", { project_id: projectId, cron: fields.cron, timezone: fields.timezone, task });
        onCreated();
      } else {
        const at = fields.at ? new Date(fields.at).toISOString() : undefined;
        setCreated(await post("/tasks", { project_id: projectId, ...task, scheduled_at: at }));
      }
      form.reset();
    } catch (failure) {
      setError(failure);
    }
  }

  return (
    <>
      <h2>New schedule</h2>
      <form class="stacked-form" onSubmit={create}>
        <fieldset>
          <legend>Runs</legend>
          <label class="choice">
            <input type="radio" name="mode" value="cron" checked={mode === "cron"} onChange={() => setMode("cron")} /> Repeatedly, on a cron expression
          </label>
          <label class="choice">
            <input type="radio" name="mode" value="once" checked={mode === "once"} onChange={() => setMode("once")} /> Once, at a time
          </label>
        </fieldset>
        {mode === "cron" ? (
          <>
            <label for="schedule-cron">Cron expression</label>
            <input id="schedule-cron" name="cron" required aria-describedby="schedule-cron-help" placeholder="0 2 * * *" />
            <small id="schedule-cron-help">5 fields (minute hour day month weekday), 6 with seconds first, or @hourly, @daily…</small>
            <label for="schedule-timezone">Time zone</label>
            <input id="schedule-timezone" name="timezone" required defaultValue={Intl.DateTimeFormat().resolvedOptions().timeZone} />
          </>
        ) : (
          <>
            <label for="schedule-at">At</label>
            <input id="schedule-at" name="at" type="datetime-local" required />
          </>
        )}
        <fieldset>
          <legend>The task it creates</legend>
          <label for="schedule-title">Title</label>
          <input id="schedule-title" name="title" required maxLength={500} />
          <label for="schedule-kind">Kind (optional)</label>
          <input id="schedule-kind" name="kind" maxLength={100} />
          <label for="schedule-priority">Priority (optional)</label>
          <input id="schedule-priority" name="priority" type="number" step="1" />
          <label for="schedule-description">Description (optional)</label>
          <textarea id="schedule-description" name="description" rows={2} />
        </fieldset>
        <button type="submit">{mode === "cron" ? "Create schedule" : "Schedule the task"}</button>
      </form>
      <ProblemView error={error} />
      {created && (
        <p class="notice" role="status">
          Task <a href={`/tasks/${created.id}`}>{created.title}</a> waits until {formatTime(created.scheduled_at)}.
        </p>
      )}
    </>
  );
}
