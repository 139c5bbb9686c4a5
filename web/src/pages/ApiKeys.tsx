import { useState } from "preact/hooks";
import { post, remove } from "../api";
import { useMe } from "../access";
import { PageTitle, ProblemView, formatTime } from "../components";
import { usePaged } from "../usePaged";
import { ConfirmButton, OneTimeSecret, formFields } from "../widgets";

interface ApiKey {
  id: string;
  name: string;
  role: string;
  prefix: string;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
  require_signature: boolean;
}

interface CreatedKey extends ApiKey {
  key: string;
  key_id: string | null;
  signing_key: string | null;
}

const rolesUpTo: Record<string, string[]> = { admin: ["admin", "member", "viewer"], member: ["member", "viewer"], viewer: ["viewer"] };

/** The caller's own keys: every account may hold keys (for its workers), with a role no higher than its own. */
export function ApiKeysPage() {
  const { me } = useMe();
  const keys = usePaged<ApiKey>("/auth/api-keys?limit=50");
  const [error, setError] = useState<unknown>(null);
  const [created, setCreated] = useState<CreatedKey | null>(null);

  async function create(event: Event) {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const fields = formFields(form);
    setError(null);
    try {
      setCreated(await post<CreatedKey>("/auth/api-keys", {
        name: fields.name,
        role: fields.role,
        expires_at: fields.expires_at ? new Date(fields.expires_at).toISOString() : undefined,
        require_signature: fields.require_signature === "on",
      }));
      form.reset();
      await keys.reload();
    } catch (failure) {
      setError(failure);
    }
  }

  async function revoke(id: string) {
    setError(null);
    try {
      await remove(`/auth/api-keys/${id}`);
      await keys.reload();
    } catch (failure) {
      setError(failure);
    }
  }

  const state = (key: ApiKey) =>
    key.revoked_at ? `revoked ${formatTime(key.revoked_at)}`
      : key.expires_at && new Date(key.expires_at).getTime() <= Date.now() ? "expired" : "active";

  return (
    <section>
      <PageTitle>API keys</PageTitle>
      <p>Your own keys, for programs acting as you. Each has a role no higher than yours.</p>
      <ProblemView error={keys.error} />
      <ProblemView error={error} />
      {created && (
        <OneTimeSecret title={`API key “${created.name}”`} onDismiss={() => setCreated(null)}
          secrets={created.signing_key ? [["Key id (X-API-Key)", created.key_id ?? ""], ["Signing key", created.signing_key]] : [["Key", created.key]]} />
      )}
      <table class="list">
        <caption class="visually-hidden">Your API keys, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Name</th><th scope="col">Prefix</th><th scope="col">Role</th><th scope="col">State</th>
            <th scope="col">Last used</th><th scope="col">Expires</th><th scope="col"><span class="visually-hidden">Actions</span></th>
          </tr>
        </thead>
        <tbody>
          {keys.items.map((key) => (
            <tr key={key.id} data-key-id={key.id}>
              <td>{key.name}{key.require_signature && <small> · signs requests</small>}</td>
              <td><code>{key.prefix}</code></td>
              <td>{key.role}</td>
              <td class="key-state">{state(key)}</td>
              <td>{formatTime(key.last_used_at)}</td>
              <td>{formatTime(key.expires_at)}</td>
              <td class="row-actions">
                {!key.revoked_at && (
                  <ConfirmButton label="Revoke" question={`Revoke “${key.name}”? Programs using it stop working at once.`}
                    onConfirm={() => void revoke(key.id)} />
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {!keys.loading && keys.items.length === 0 && !keys.error && <p>You have no API keys.</p>}
      {keys.more && <button type="button" onClick={keys.more}>More keys</button>}
      <h2>New API key</h2>
      <form class="inline-form" onSubmit={create}>
        <label for="key-name">Name</label>
        <input id="key-name" name="name" required maxLength={200} />
        <label for="key-role">Role</label>
        <select id="key-role" name="role">
          {(rolesUpTo[me?.role ?? "viewer"] ?? ["viewer"]).map((value) => <option key={value} value={value}>{value}</option>)}
        </select>
        <label for="key-expires">Expires (optional)</label>
        <input id="key-expires" name="expires_at" type="datetime-local" />
        <label class="choice"><input type="checkbox" name="require_signature" /> Signs its requests</label>
        <button type="submit">Create key</button>
      </form>
    </section>
  );
}
