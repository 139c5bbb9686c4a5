import { useState } from "preact/hooks";
import { patch, post, query, remove } from "../api";
import { AdminOnly, useMe } from "../access";
import { PageTitle, ProblemView, formatTime } from "../components";
import { useLocation, navigate } from "../router";
import { usePaged } from "../usePaged";
import { ConfirmButton, OneTimeSecret, formFields } from "../widgets";

interface User {
  id: string;
  email: string;
  display_name: string;
  role: string;
  disabled: boolean;
  created_at: string;
  totp_enabled: boolean;
}

interface CreatedUser extends User {
  set_password: { token: string; purpose: string; expires_at: string };
}

const roles = ["member", "viewer", "admin"];

export function UsersPage() {
  return <AdminOnly title="Users"><UserList /></AdminOnly>;
}

function UserList() {
  const { me } = useMe();
  const { search } = useLocation();
  const role = search.get("role") ?? "";
  const users = usePaged<User>(`/users${query({ role, limit: "50" })}`);
  const [error, setError] = useState<unknown>(null);
  const [created, setCreated] = useState<CreatedUser | null>(null);

  async function change(action: () => Promise<unknown>) {
    setError(null);
    try {
      await action();
      await users.reload();
    } catch (failure) {
      setError(failure);
    }
  }

  async function create(event: Event) {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const fields = formFields(form);
    setError(null);
    try {
      setCreated(await post<CreatedUser>("/users", { email: fields.email, display_name: fields.display_name, role: fields.role }));
      form.reset();
      await users.reload();
    } catch (failure) {
      setError(failure);
    }
  }

  return (
    <section>
      <PageTitle>Users</PageTitle>
      <div class="filters">
        <label>
          Role
          <select value={role} onChange={(event) => navigate(`/admin/users${query({ role: (event.target as HTMLSelectElement).value })}`, true)}>
            <option value="">any</option>
            {roles.map((value) => <option key={value} value={value}>{value}</option>)}
          </select>
        </label>
      </div>
      <ProblemView error={users.error} />
      <ProblemView error={error} />
      {created && (
        <OneTimeSecret title={`Set-password token for ${created.email}`} secrets={[["Token", created.set_password.token]]}
          expiresAt={created.set_password.expires_at} onDismiss={() => setCreated(null)} />
      )}
      <table class="list">
        <caption class="visually-hidden">Every account, oldest first</caption>
        <thead>
          <tr>
            <th scope="col">Name</th><th scope="col">Email</th><th scope="col">Role</th><th scope="col">State</th>
            <th scope="col">Created</th><th scope="col"><span class="visually-hidden">Actions</span></th>
          </tr>
        </thead>
        <tbody>
          {users.items.map((user) => (
            <tr key={user.id} data-user-id={user.id}>
              <td>{user.display_name}</td>
              <td>{user.email}</td>
              <td>{user.role}</td>
              <td class="user-state">{user.disabled ? "disabled" : "active"}{user.totp_enabled ? " · second factor" : ""}</td>
              <td>{formatTime(user.created_at)}</td>
              <td class="row-actions">
                {user.id !== me?.id && (
                  <>
                    <button type="button" class="secondary" aria-label={`${user.disabled ? "Enable" : "Disable"} ${user.email}`}
                      onClick={() => void change(() => patch(`/users/${user.id}`, { disabled: !user.disabled }))}>
                      {user.disabled ? "Enable" : "Disable"}
                    </button>{" "}
                    <ConfirmButton label="Delete" question={`Delete ${user.email} for good? This cannot be undone.`}
                      onConfirm={() => void change(() => remove(`/users/${user.id}`))} />
                  </>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {users.more && <button type="button" onClick={users.more}>More users</button>}
      <h2>New user</h2>
      <p>The account has no password until its user redeems the one-time set-password token shown after creating it.</p>
      <form class="inline-form" onSubmit={create}>
        <label for="user-email">Email</label>
        <input id="user-email" name="email" type="email" required maxLength={320} />
        <label for="user-name">Display name</label>
        <input id="user-name" name="display_name" required maxLength={200} />
        <label for="user-role">Role</label>
        <select id="user-role" name="role">
          {roles.map((value) => <option key={value} value={value}>{value}</option>)}
        </select>
        <button type="submit">Create user</button>
      </form>
    </section>
  );
}
