import { useState } from "preact/hooks";
import { post } from "../api";
import { PageTitle, ProblemView, formatTime } from "../components";
import { navigate } from "../router";
import { usePaged } from "../usePaged";

interface Project {
  id: string;
  name: string;
  description: string | null;
  created_at: string;
}

export function ProjectsPage() {
  const projects = usePaged<Project>("/projects?limit=50");
  const [error, setError] = useState<unknown>(null);

  async function create(event: Event) {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    setError(null);
    try {
      const created = await post<Project>("/projects", {
        name: String(data.get("name")),
        description: String(data.get("description") ?? "") || null,
      });
      navigate(`/projects/${created.id}`);
    } catch (failure) {
      setError(failure);
    }
  }

  return (
    <section>
      <PageTitle>Projects</PageTitle>
      <ProblemView error={projects.error} />
      <table class="list">
        <caption class="visually-hidden">Projects you can read</caption>
        <thead>
          <tr><th scope="col">Name</th><th scope="col">Description</th><th scope="col">Created</th></tr>
        </thead>
        <tbody>
          {projects.items.map((project) => (
            <tr key={project.id}>
              <td><a href={`/projects/${project.id}`}>{project.name}</a></td>
              <td>{project.description ?? ""}</td>
              <td>{formatTime(project.created_at)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {projects.more && <button type="button" onClick={projects.more}>More projects</button>}
      <h2>New project</h2>
      <form class="inline-form" onSubmit={create}>
        <label for="project-name">Name</label>
        <input id="project-name" name="name" required maxLength={200} />
        <label for="project-description">Description</label>
        <input id="project-description" name="description" maxLength={2000} />
        <button type="submit">Create project</button>
      </form>
      <ProblemView error={error} />
    </section>
  );
}
