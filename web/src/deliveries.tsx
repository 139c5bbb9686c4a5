// Webhook deliveries as a table with their outcome, and Redeliver for the dead and delivered ones (the API refuses the
// others with a 409, so the button is offered only where it can work).
import { useState } from "preact/hooks";
import { post } from "./api";
import { ProblemView, formatTime } from "./components";
import { usePaged } from "./usePaged";

export interface Delivery {
  id: string;
  task_id: string;
  project_id: string;
  trigger: string;
  url: string | null;
  method: string | null;
  status: string;
  attempts: number;
  next_attempt_at: string;
  last_status_code: number | null;
  last_error: string | null;
  created_at: string;
  delivered_at: string | null;
}

const redeliverable = new Set(["dead", "delivered"]);

export function DeliveriesTable({ items, caption, onChange, linkTasks = false }: {
  items: Delivery[];
  caption: string;
  onChange: (delivery: Delivery) => void;
  linkTasks?: boolean;
}) {
  const [error, setError] = useState<unknown>(null);

  async function redeliver(delivery: Delivery) {
    setError(null);
    try {
      const answer = await post<{ delivery: Delivery }>(`/deliveries/${delivery.id}/redeliver`);
      onChange(answer.delivery);
    } catch (failure) {
      setError(failure);
    }
  }

  return (
    <>
      <ProblemView error={error} />
      <table class="list deliveries">
        <caption class="visually-hidden">{caption}</caption>
        <thead>
          <tr>
            {linkTasks && <th scope="col">Task</th>}
            <th scope="col">Trigger</th><th scope="col">Destination</th><th scope="col">Status</th>
            <th scope="col">Attempts</th><th scope="col">Last outcome</th><th scope="col">Created</th>
            <th scope="col"><span class="visually-hidden">Actions</span></th>
          </tr>
        </thead>
        <tbody>
          {items.map((delivery) => (
            <tr key={delivery.id} data-delivery-id={delivery.id}>
              {linkTasks && <td><a href={`/tasks/${delivery.task_id}`} aria-label={`Open task ${delivery.task_id}`}>Open task</a></td>}
              <td>{delivery.trigger}</td>
              <td class="url">{delivery.method ?? "POST"} {delivery.url ?? "(template)"}</td>
              <td><span class={`delivery delivery-${delivery.status}`}>{delivery.status}</span></td>
              <td>{delivery.attempts}</td>
              <td>{delivery.last_error ?? delivery.last_status_code ?? ""}</td>
              <td>{formatTime(delivery.created_at)}</td>
              <td>
                {redeliverable.has(delivery.status) && (
                  <button type="button" onClick={() => void redeliver(delivery)}
                    aria-label={`Redeliver the ${delivery.trigger} delivery to ${delivery.url ?? "its template"}`}>
                    Redeliver
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

/** The task page's section: its deliveries, newest first. */
export function TaskDeliveries({ taskId }: { taskId: string }) {
  const deliveries = usePaged<Delivery>(`/tasks/${taskId}/deliveries?limit=50`);
  const replace = (changed: Delivery) =>
    deliveries.setItems((items) => items.map((item) => (item.id === changed.id ? changed : item)));
  return (
    <>
      <h2>Webhook deliveries</h2>
      <ProblemView error={deliveries.error} />
      {deliveries.items.length === 0 && !deliveries.loading && !deliveries.error
        ? <p>No deliveries.</p>
        : <DeliveriesTable items={deliveries.items} caption="Webhook deliveries of this task, newest first" onChange={replace} />}
      {deliveries.more && <button type="button" onClick={deliveries.more}>Older deliveries</button>}
    </>
  );
}
