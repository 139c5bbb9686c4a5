import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import "./app.css";
import { onSessionChange, refresh, signOut } from "./api";
import { match, navigate, onLinkClick, useLocation } from "./router";
import { SignInPage } from "./pages/SignIn";
import { ProjectsPage } from "./pages/Projects";
import { ProjectPage } from "./pages/Project";
import { TaskPage } from "./pages/Task";
import { DagPage } from "./pages/Dag";
import { DeadLettersPage } from "./pages/DeadLetters";
import { BatchesPage } from "./pages/Batches";
import { BatchDagPage } from "./pages/BatchDag";
import { SchedulesPage } from "./pages/Schedules";
import { NodesPage } from "./pages/Nodes";
import { UsersPage } from "./pages/Users";
import { ApiKeysPage } from "./pages/ApiKeys";
import { AuditLogPage } from "./pages/AuditLog";
import { AdminLinks } from "./access";

type SessionState = "checking" | "signed-in" | "signed-out";

function App() {
  const [session, setSession] = useState<SessionState>("checking");
  const { path } = useLocation();

  useEffect(() => {
    const stop = onSessionChange((signedIn) => setSession(signedIn ? "signed-in" : "signed-out"));
    // A reload keeps no token in memory: the refresh cookie, if any, starts a new access token.
    void refresh();
    return stop;
  }, []);

  useEffect(() => {
    // Move focus to the new page's heading so keyboard and screen-reader users land on it.
    document.querySelector<HTMLElement>("main h1")?.focus();
  }, [path, session]);

  if (session === "checking") return <p class="loading" role="status">Loading…</p>;
  if (session === "signed-out") return <SignInPage />;

  return (
    <div class="shell" onClick={onLinkClick}>
      <a class="skip" href="#main">Skip to content</a>
      <header class="top">
        <a class="brand" href="/projects">TaskRunner</a>
        <nav aria-label="Main">
          <a href="/projects" aria-current={path.startsWith("/projects") ? "page" : undefined}>Projects</a>
          <a href="/dead-letters" aria-current={path === "/dead-letters" ? "page" : undefined}>Dead letters</a>
          <a href="/api-keys" aria-current={path === "/api-keys" ? "page" : undefined}>API keys</a>
          <AdminLinks path={path} />
        </nav>
        <button type="button" class="link" onClick={() => void signOut().then(() => navigate("/", true))}>Sign out</button>
      </header>
      <main id="main">{route(path)}</main>
    </div>
  );
}

function route(path: string) {
  let parameters: Record<string, string> | null;
  if ((parameters = match("/projects/:id", path))) return <ProjectPage id={parameters.id} />;
  if (match("/dead-letters", path)) return <DeadLettersPage />;
  if ((parameters = match("/projects/:id/batches", path))) return <BatchesPage projectId={parameters.id} />;
  if ((parameters = match("/batches/:id/dag", path))) return <BatchDagPage batchId={parameters.id} />;
  if ((parameters = match("/projects/:id/schedules", path))) return <SchedulesPage projectId={parameters.id} />;
  if (path === "/nodes") return <NodesPage />;
  if (path === "/admin/users") return <UsersPage />;
  if (path === "/admin/audit") return <AuditLogPage />;
  if (path === "/api-keys") return <ApiKeysPage />;
  if ((parameters = match("/tasks/:id/dag", path))) return <DagPage taskId={parameters.id} />;
  if ((parameters = match("/tasks/:id", path))) return <TaskPage id={parameters.id} />;
  return <ProjectsPage />;
}

render(<App />, document.getElementById("app")!);
