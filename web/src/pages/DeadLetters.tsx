import { PageTitle, ProblemView } from "../components";
import { DeliveriesTable, type Delivery } from "../deliveries";
import { usePaged } from "../usePaged";

/** The dead letters: deliveries whose last attempt failed, across every task the user may read, newest first. */
export function DeadLettersPage() {
  const dead = usePaged<Delivery>("/deliveries?status=dead&limit=50");
  const replace = (changed: Delivery) =>
    dead.setItems((items) => items.map((item) => (item.id === changed.id ? changed : item)));
  return (
    <section>
      <PageTitle>Dead letters</PageTitle>
      <p>Webhook deliveries that gave up after their last attempt. Redeliver sends one again from the first step of its retry schedule.</p>
      <ProblemView error={dead.error} />
      {dead.items.length === 0 && !dead.loading && !dead.error
        ? <p>No dead deliveries.</p>
        : <DeliveriesTable items={dead.items} caption="Dead webhook deliveries, newest first" onChange={replace} linkTasks />}
      {dead.more && <button type="button" onClick={dead.more}>More dead letters</button>}
      {dead.items.length > 0 && <button type="button" class="link" onClick={dead.reload}>Refresh</button>}
    </section>
  );
}
