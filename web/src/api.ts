// The API client. The access token lives in this module's memory only; the refresh token is an HttpOnly cookie that
// script never sees, sent only to /api/v1/auth/browser/*. Every cookie endpoint needs the CSRF header below, which a
// page of another site cannot send without a CORS preflight that the service refuses.
export const csrfHeader = { "X-TaskRunner-Csrf": "1" };

export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  errors?: Record<string, string[]>;
}

export class ApiError extends Error {
  constructor(readonly status: number, readonly problem: Problem) {
    super(problem.detail ?? problem.title ?? `HTTP ${status}`);
  }
}

export interface BrowserSession {
  access_token: string;
  expires_in: number;
  session_id: string;
}

let accessToken: string | null = null;
let refreshing: Promise<boolean> | null = null;
const sessionListeners = new Set<(signedIn: boolean) => void>();

export function onSessionChange(listener: (signedIn: boolean) => void): () => void {
  sessionListeners.add(listener);
  return () => sessionListeners.delete(listener);
}

function setSession(session: BrowserSession | null) {
  accessToken = session?.access_token ?? null;
  for (const listener of sessionListeners) listener(accessToken !== null);
}

async function readProblem(response: Response): Promise<ApiError> {
  let problem: Problem = { status: response.status, title: response.statusText };
  try {
    problem = (await response.json()) as Problem;
  } catch {
    // A body that is not a problem document keeps the status line as the message.
  }
  return new ApiError(response.status, problem);
}

async function cookieCall(path: string, body?: unknown): Promise<Response> {
  return fetch(`/api/v1/auth/browser/${path}`, {
    method: "POST",
    credentials: "same-origin",
    headers: { ...csrfHeader, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

export async function signIn(email: string, password: string, totpCode?: string): Promise<void> {
  const response = await cookieCall("login", { email, password, ...(totpCode ? { totp_code: totpCode } : {}) });
  if (!response.ok) throw await readProblem(response);
  setSession((await response.json()) as BrowserSession);
}

/** Trades the refresh cookie for a new access token; false (and signed out) when the session has ended. */
export function refresh(): Promise<boolean> {
  refreshing ??= (async () => {
    try {
      const response = await cookieCall("refresh");
      if (!response.ok) {
        setSession(null);
        return false;
      }
      setSession((await response.json()) as BrowserSession);
      return true;
    } catch {
      setSession(null);
      return false;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

export async function signOut(): Promise<void> {
  try {
    await cookieCall("logout");
  } finally {
    setSession(null);
  }
}

/** A call with the access token; a 401 refreshes once and repeats the call; an error status throws its problem. */
async function authorized(path: string, init: RequestInit): Promise<Response> {
  const send = () =>
    fetch(`/api/v1${path}`, {
      ...init,
      headers: {
        Accept: "application/json",
        // A FormData body sets its own multipart type and boundary.
        ...(init.body && !(init.body instanceof FormData) ? { "Content-Type": "application/json" } : {}),
        ...(accessToken ? { Authorization: `Bearer ${accessToken}` } : {}),
        ...(init.headers ?? {}),
      },
    });
  let response = await send();
  if (response.status === 401 && (await refresh())) response = await send();
  if (!response.ok) throw await readProblem(response);
  return response;
}

/** A JSON call with the access token. */
export async function api<T>(path: string, init: RequestInit = {}): Promise<T> {
  const response = await authorized(path, init);
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

/** A file the API serves behind the access token (an <img> or link cannot send it), as a Blob. */
export async function apiBlob(path: string): Promise<Blob> {
  return (await authorized(path, { headers: { Accept: "*/*" } })).blob();
}

export const post = <T>(path: string, body?: unknown) =>
  api<T>(path, { method: "POST", body: body === undefined ? undefined : JSON.stringify(body) });

export const patch = <T>(path: string, body: unknown) => api<T>(path, { method: "PATCH", body: JSON.stringify(body) });

export const remove = (path: string) => api<void>(path, { method: "DELETE" });

export interface Page<T> {
  data: T[];
  next_cursor: string | null;
  has_more: boolean;
}

export function query(parameters: Record<string, string | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(parameters)) if (value) search.set(key, value);
  const text = search.toString();
  return text ? `?${text}` : "";
}
