// Who is signed in, and the gate of the admin pages. The account is read once per session (a sign-out or a refresh that
// ends the session forgets it), so the navigation and every admin page share one request.
import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, onSessionChange } from "./api";
import { PageTitle, ProblemView } from "./components";

export interface Me {
  id: string;
  email: string;
  display_name: string;
  role: string;
}

let current: Promise<Me> | null = null;
onSessionChange((signedIn) => {
  if (!signedIn) current = null;
});

export function useMe(): { me: Me | null; error: unknown } {
  const [me, setMe] = useState<Me | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    current ??= api<Me>("/users/me");
    current.then(setMe, (failure) => {
      current = null;
      setError(failure);
    });
  }, []);
  return { me, error };
}

/** The page for admins; anyone else sees why it is not theirs under the page's own heading, never a blank page. */
export function AdminOnly({ title, children }: { title: string; children: ComponentChildren }) {
  const { me, error } = useMe();
  if (error) return <section><PageTitle>{title}</PageTitle><ProblemView error={error} /></section>;
  if (!me) return <p class="loading" role="status">Loading…</p>;
  if (me.role !== "admin")
    return (
      <section>
        <PageTitle>{title}</PageTitle>
        <p class="notice" role="alert">
          <strong>Admins only.</strong> This page is for the service's administrators; your account ({me.email}) is a{" "}
          {me.role}. Ask an admin if you need what it shows.
        </p>
      </section>
    );
  return <>{children}</>;
}

/** The navigation's links to the admin pages, for admins only (anyone may still open them, and is told why not). */
export function AdminLinks({ path }: { path: string }) {
  const { me } = useMe();
  if (me?.role !== "admin") return null;
  return (
    <>
      {[["/nodes", "Nodes"], ["/admin/users", "Users"], ["/admin/audit", "Audit log"]].map(([href, label]) => (
        <a key={href} href={href} aria-current={path === href ? "page" : undefined}>{label}</a>
      ))}
    </>
  );
}
