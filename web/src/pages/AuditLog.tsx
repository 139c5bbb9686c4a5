import { AdminOnly } from "../access";
import { query } from "../api";
import { PageTitle, ProblemView, formatTime } from "../components";
import { navigate, useLocation } from "../router";
import { usePaged } from "../usePaged";
import { formFields } from "../widgets";

interface AuditEntry {
  id: string;
  occurred_at: string;
  actor_user_id: string | null;
  actor_api_key_id: string | null;
  action: string;
  resource_type: string;
  resource_id: string | null;
  ip: string | null;
  diff: unknown;
}

/** The filters of GET /audit-log, kept in the page's address so a filtered view can be reloaded and shared. */
const filters = [
  ["user_id", "Actor user id"],
  ["action", "Action"],
  ["resource_type", "Resource type"],
  ["resource_id", "Resource id"],
  ["from", "From"],
  ["to", "Until"],
] as const;

const timeFilters = new Set<string>(["from", "to"]);

export function AuditLogPage() {
  return <AdminOnly title="Audit log"><AuditList /></AdminOnly>;
}

function AuditList() {
  const { search } = useLocation();
  const chosen = Object.fromEntries(filters.map(([name]) => [name, search.get(name) ?? undefined]));
  // The address holds the local time the person typed; the API is given the instant it means (or, when it is no time at
  // all, the text itself, so the API's problem names the field).
  const instant = (value: string) => (Number.isNaN(new Date(value).getTime()) ? value : new Date(value).toISOString());
  const asked = Object.fromEntries(
    Object.entries(chosen).map(([name, value]) => [name, value && timeFilters.has(name) ? instant(value) : value]),
  );
  const entries = usePaged<AuditEntry>(`/audit-log${query({ ...asked, limit: "50" })}`);

  function apply(event: Event) {
    event.preventDefault();
    navigate(`/admin/audit${query(formFields(event.currentTarget as HTMLFormElement))}`, true);
  }

  return (
    <section>
      <PageTitle>Audit log</PageTitle>
      <form key={search.toString()} class="filters audit-filters" onSubmit={apply} aria-label="Filter the audit log">
        {filters.map(([name, label]) => (
          <label key={name}>
            {label}
            {timeFilters.has(name)
              ? <input name={name} type="datetime-local" defaultValue={chosen[name] ?? ""} />
              : <input name={name} type="text" defaultValue={chosen[name] ?? ""} />}
          </label>
        ))}
        <button type="submit">Filter</button>
        <button type="button" class="secondary" onClick={() => navigate("/admin/audit", true)}>Clear</button>
      </form>
      <ProblemView error={entries.error} />
      <table class="list">
        <caption class="visually-hidden">Audit entries, newest first</caption>
        <thead>
          <tr>
            <th scope="col">When</th><th scope="col">Action</th><th scope="col">Resource</th><th scope="col">By</th>
            <th scope="col">From</th><th scope="col">Change</th>
          </tr>
        </thead>
        <tbody>
          {entries.items.map((entry) => (
            <tr key={entry.id}>
              <td>{formatTime(entry.occurred_at)}</td>
              <td>{entry.action}</td>
              <td>{entry.resource_type}{entry.resource_id && <><br /><small>{entry.resource_id}</small></>}</td>
              <td>{entry.actor_user_id ? `user ${entry.actor_user_id}` : entry.actor_api_key_id ? `API key ${entry.actor_api_key_id}` : "the system"}</td>
              <td>{entry.ip ?? "—"}</td>
              <td><code class="diff">{entry.diff ? JSON.stringify(entry.diff) : ""}</code></td>
            </tr>
          ))}
        </tbody>
      </table>
      {!entries.loading && entries.items.length === 0 && !entries.error && <p>No entries match.</p>}
      {entries.more && <button type="button" onClick={entries.more}>Older entries</button>}
    </section>
  );
}
