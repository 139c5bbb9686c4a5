// A task's attachments: list with image thumbnails, upload, download and delete. The files are behind the access token,
// which an <img> or a link cannot send, so they are fetched and shown as data: URLs (the only image source besides
// 'self' that the Content-Security-Policy allows) or saved through a temporary object URL.
import { useEffect, useState } from "preact/hooks";
import { api, apiBlob } from "../api";
import { ProblemView, formatTime } from "../components";
import { usePaged } from "../usePaged";

interface Attachment {
  id: string;
  filename: string;
  content_type: string;
  size_bytes: number;
  thumbnail_url: string | null;
  thumbnail_status: string;
  created_at: string;
}

const apiPrefix = "/api/v1";
const thumbnailTries = 20;

export function TaskAttachments({ taskId }: { taskId: string }) {
  const attachments = usePaged<Attachment>(`/tasks/${taskId}/attachments?limit=100`);
  const [error, setError] = useState<unknown>(null);
  const [uploading, setUploading] = useState(false);

  async function upload(event: Event) {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    setError(null);
    setUploading(true);
    try {
      await api(`/tasks/${taskId}/attachments`, { method: "POST", body: new FormData(form) });
      form.reset();
      await attachments.reload();
    } catch (failure) {
      setError(failure);
    } finally {
      setUploading(false);
    }
  }

  async function download(attachment: Attachment) {
    setError(null);
    try {
      const url = URL.createObjectURL(await apiBlob(`/attachments/${attachment.id}/download`));
      const link = document.createElement("a");
      link.href = url;
      link.download = attachment.filename;
      link.click();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } catch (failure) {
      setError(failure);
    }
  }

  async function remove(attachment: Attachment) {
    if (!confirm(`Delete the attachment “${attachment.filename}”?`)) return;
    setError(null);
    try {
      await api(`/attachments/${attachment.id}`, { method: "DELETE" });
      attachments.setItems((items) => items.filter((item) => item.id !== attachment.id));
    } catch (failure) {
      setError(failure);
    }
  }

  return (
    <>
      <h2>Attachments</h2>
      <ProblemView error={attachments.error} />
      {attachments.items.length === 0 && !attachments.loading && !attachments.error && <p>No attachments.</p>}
      <ul class="attachments">
        {attachments.items.map((attachment) => (
          <li key={attachment.id} data-attachment-id={attachment.id}>
            {attachment.thumbnail_url && <Thumbnail path={attachment.thumbnail_url.slice(apiPrefix.length)} name={attachment.filename} />}
            <div>
              <strong>{attachment.filename}</strong>
              <small>{attachment.content_type} · {formatBytes(attachment.size_bytes)} · {formatTime(attachment.created_at)}</small>
              <div class="actions">
                <button type="button" onClick={() => void download(attachment)} aria-label={`Download ${attachment.filename}`}>Download</button>
                <button type="button" class="danger" onClick={() => void remove(attachment)} aria-label={`Delete ${attachment.filename}`}>Delete</button>
              </div>
            </div>
          </li>
        ))}
      </ul>
      {attachments.more && <button type="button" onClick={attachments.more}>More attachments</button>}
      <form class="inline-form" onSubmit={upload}>
        <label for="attachment-file">Attach a file</label>
        <input id="attachment-file" name="file" type="file" required />
        <button type="submit" disabled={uploading}>{uploading ? "Uploading…" : "Upload"}</button>
      </form>
      <ProblemView error={error} />
    </>
  );
}

/** The thumbnail, asked for again while the service is still making it (it answers 404 until then). */
function Thumbnail({ path, name }: { path: string; name: string }) {
  const [source, setSource] = useState<string | null>(null);

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const attempt = async (tries: number) => {
      try {
        const dataUrl = await readAsDataUrl(await apiBlob(path));
        if (!stopped) setSource(dataUrl);
      } catch {
        if (!stopped && tries > 1) timer = setTimeout(() => void attempt(tries - 1), 1000);
      }
    };
    void attempt(thumbnailTries);
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [path]);

  return source
    ? <img class="thumbnail" src={source} alt={`Thumbnail of ${name}`} />
    : <span class="thumbnail pending" role="img" aria-label={`Thumbnail of ${name} not ready`} />;
}

function readAsDataUrl(blob: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
