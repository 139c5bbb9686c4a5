import { useState } from "preact/hooks";
import { signIn } from "../api";
import { PageTitle, ProblemView } from "../components";

export function SignInPage() {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: Event) {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    setBusy(true);
    setError(null);
    try {
      await signIn(String(form.get("email")), String(form.get("password")), String(form.get("totp") ?? "") || undefined);
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  }

  return (
    <main id="main" class="sign-in">
      <PageTitle>Sign in to TaskRunner</PageTitle>
      <form onSubmit={submit}>
        <label for="email">Email</label>
        <input id="email" name="email" type="email" autocomplete="username" required />
        <label for="password">Password</label>
        <input id="password" name="password" type="password" autocomplete="current-password" required />
        <label for="totp">Authenticator code (if enabled)</label>
        <input id="totp" name="totp" inputMode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" />
        <button type="submit" disabled={busy}>Sign in</button>
      </form>
      <ProblemView error={error} />
    </main>
  );
}
