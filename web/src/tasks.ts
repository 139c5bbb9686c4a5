export interface Task {
  id: string;
  project_id: string;
  title: string;
  description: string | null;
  kind: string;
  status: string;
  priority: number;
  metadata: unknown;
  timeout_seconds: number | null;
  scheduled_at: string | null;
  max_retries: number;
  attempt: number;
  concurrency_key: string | null;
  batch_id: string | null;
  assignee_id: string | null;
  depends_on: { task_id: string; require: string }[];
  output: unknown;
  error: string | null;
  cancel_reason: string | null;
  created_at: string;
  updated_at: string;
  started_at: string | null;
  ended_at: string | null;
  waiting_on?: WaitingOn | null;
}

export type WaitingOn =
  | "paused"
  | { parents: number }
  | { scheduled_at: string }
  | { concurrency_key: string; running: number; max: number };

export const statuses = ["pending", "paused", "running", "succeeded", "failed", "cancelled", "timed_out"];

/** `waiting_on` in words: why a task that is not running yet does not run. */
export function waitingInWords(waiting: WaitingOn | null | undefined): string | null {
  if (!waiting) return null;
  if (waiting === "paused") return "Paused: it will not start until it is resumed.";
  if ("parents" in waiting)
    return `Waiting for ${waiting.parents} parent task${waiting.parents === 1 ? "" : "s"} to finish.`;
  if ("scheduled_at" in waiting) return `Scheduled: it may start at ${new Date(waiting.scheduled_at).toLocaleString()}.`;
  return `Waiting for a slot of concurrency key “${waiting.concurrency_key}”: ${waiting.running} of ${waiting.max} running.`;
}
