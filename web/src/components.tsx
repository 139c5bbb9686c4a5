import type { ComponentChildren } from "preact";
import { ApiError } from "./api";

/** An API error shown as its problem detail, with each field's errors. */
export function ProblemView({ error }: { error: unknown }) {
  if (!error) return null;
  const problem = error instanceof ApiError ? error.problem : { title: "Request failed", detail: String(error) };
  return (
    <div class="problem" role="alert">
      <strong>{problem.title ?? "Error"}</strong>
      {problem.detail && <p>{problem.detail}</p>}
      {problem.errors && (
        <ul>
          {Object.entries(problem.errors).map(([field, messages]) => (
            <li key={field}>
              <code>{field}</code>: {messages.join("; ")}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

export function PageTitle({ children }: { children: ComponentChildren }) {
  return <h1 tabIndex={-1}>{children}</h1>;
}

export function StatusBadge({ status, cancelReason }: { status: string; cancelReason?: string | null }) {
  const reason = status === "cancelled" && cancelReason && cancelReason !== "requested" ? ` (${cancelReason.replace("_", " ")})` : "";
  return <span class={`status status-${status}`}>{status.replace("_", " ") + reason}</span>;
}

export function formatTime(value: string | null | undefined): string {
  return value ? new Date(value).toLocaleString() : "—";
}
