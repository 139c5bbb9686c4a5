import { Fragment } from "preact";
import { useState } from "preact/hooks";
import { formatTime } from "./components";

/** A destructive action asked twice: the first press asks, in place, and only the second acts. */
export function ConfirmButton({ label, question, onConfirm }: { label: string; question: string; onConfirm: () => void }) {
  const [asking, setAsking] = useState(false);
  if (!asking)
    return <button type="button" class="danger" onClick={() => setAsking(true)}>{label}</button>;
  return (
    <span class="confirm" role="group" aria-label={question}>
      <span>{question}</span>{" "}
      <button type="button" class="danger" autoFocus onClick={() => { setAsking(false); onConfirm(); }}>Yes, {label.toLowerCase()}</button>{" "}
      <button type="button" class="secondary" onClick={() => setAsking(false)}>No</button>
    </span>
  );
}

/** A secret the service answers once (a key, a token): shown until dismissed, never again. */
export function OneTimeSecret({ title, secrets, expiresAt, onDismiss }: {
  title: string;
  secrets: [label: string, value: string][];
  expiresAt?: string | null;
  onDismiss: () => void;
}) {
  return (
    <div class="secret" role="status">
      <strong>{title}</strong>
      <p>It is shown this once: copy it now. The service keeps only a hash and cannot show it again.</p>
      <dl class="fields">
        {secrets.map(([label, value]) => (
          <Fragment key={label}><dt>{label}</dt><dd><code class="secret-value">{value}</code></dd></Fragment>
        ))}
        {expiresAt && <><dt>Expires</dt><dd>{formatTime(expiresAt)}</dd></>}
      </dl>
      <button type="button" class="secondary" onClick={onDismiss}>I have copied it</button>
    </div>
  );
}

/** How long ago, in words a glance reads: "4 s ago", "3 min ago", "2 h ago", "5 d ago". */
export function formatAge(value: string, now: number): string {
  const seconds = Math.max(0, Math.round((now - new Date(value).getTime()) / 1000));
  if (seconds < 120) return `${seconds} s ago`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} d ago`;
}

/** A form's fields as trimmed strings; an empty field is absent. */
export function formFields(form: HTMLFormElement): Record<string, string | undefined> {
  const fields: Record<string, string | undefined> = {};
  new FormData(form).forEach((value, name) => {
    const text = String(value).trim();
    if (text) fields[name] = text;
  });
  return fields;
}
