// Who is here: the project's members online, or the people viewing a task. Read once from GET /projects/{id}/presence,
// then read again whenever the socket says someone came or went (the events carry ids only, the answer carries names).
import { useEffect, useState } from "preact/hooks";
import { api } from "./api";
import { LiveFeed } from "./live";

interface PresenceAnswer {
  online: { user_id: string; display_name: string }[];
  viewers: { task_id: string; user_ids: string[] }[];
}

const presenceEvents = new Set(["user.online", "user.offline", "task.viewer_joined", "task.viewer_left", "resync"]);

/** On a task page pass `taskId`: this page's socket then views the task, and the avatars are the task's viewers. */
export function PresenceAvatars({ projectId, taskId }: { projectId: string; taskId?: string }) {
  const [people, setPeople] = useState<{ id: string; name: string }[]>([]);

  useEffect(() => {
    let latest = 0;
    async function load() {
      const call = ++latest;
      try {
        const answer = await api<PresenceAnswer>(`/projects/${projectId}/presence`);
        if (call !== latest) return;
        const names = new Map(answer.online.map((user) => [user.user_id, user.display_name]));
        setPeople(taskId
          // An admin who is not a member may view a task; the answer names members only.
          ? (answer.viewers.find((viewers) => viewers.task_id === taskId)?.user_ids ?? []).map((id) => ({ id, name: names.get(id) ?? "An administrator" }))
          : answer.online.map((user) => ({ id: user.user_id, name: user.display_name })));
      } catch {
        // Presence is a nicety: the page works without it, and the next event reads it again.
      }
    }
    const feed = new LiveFeed(
      [taskId ? { task_id: taskId } : { project_id: projectId }],
      (event) => presenceEvents.has(event.type) && void load(),
      (connected) => connected && void load(),
      taskId ?? null,
    );
    return () => {
      latest = -1;
      feed.close();
    };
  }, [projectId, taskId]);

  const label = taskId ? "Viewing this task" : "Online in this project";
  return (
    <div class="presence">
      <span class="presence-label">{label}:</span>
      <ul aria-label={label}>
        {people.map((person) => (
          <li key={person.id}>
            <span class="avatar" data-user-id={person.id} data-hue={hue(person.id)} role="img" aria-label={person.name} title={person.name}>
              {initials(person.name)}
            </span>
          </li>
        ))}
        {people.length === 0 && <li class="presence-none">nobody</li>}
      </ul>
    </div>
  );
}

function initials(name: string): string {
  const words = name.trim().split(/\s+/).filter(Boolean);
  const letters = words.length > 1 ? [words[0], words[words.length - 1]] : words;
  return letters.map((word) => [...word][0]?.toUpperCase() ?? "").join("") || "?";
}

/** One of the stylesheet's avatar colours, the same for a user everywhere. */
function hue(id: string): number {
  let sum = 0;
  for (const character of id) sum = (sum * 31 + character.charCodeAt(0)) >>> 0;
  return sum % 6;
}
