// The WebSocket feed: a one-use ticket opens it (a browser cannot send the access token as a header), subscriptions are
// sent again after every reconnect, and the reconnect resumes after the last event seen, so none is lost in between.
import { post } from "./api";

export interface LiveEvent {
  type: string;
  id?: string;
  data: Record<string, unknown> & { task_id?: string; project_id?: string; status?: string };
}

type Subscription = { project_id: string } | { task_id: string } | { batch_id: string };

export class LiveFeed {
  private socket: WebSocket | null = null;
  private lastEventId: string | null = null;
  private closed = false;
  private retryDelay = 500;
  private readonly seen = new Set<string>();

  constructor(
    private readonly subscriptions: Subscription[],
    private readonly onEvent: (event: LiveEvent) => void,
    private readonly onState: (connected: boolean) => void = () => {},
    /** The task this socket views (presence), announced again after every reconnect like the subscriptions. */
    private readonly viewing: string | null = null,
  ) {
    void this.open();
  }

  close() {
    this.closed = true;
    this.socket?.close();
  }

  private async open() {
    if (this.closed) return;
    try {
      const { ticket } = await post<{ ticket: string }>("/ws/ticket");
      const scheme = location.protocol === "https:" ? "wss" : "ws";
      const resume = this.lastEventId ? `&last_event_id=${encodeURIComponent(this.lastEventId)}` : "";
      const socket = new WebSocket(`${scheme}://${location.host}/api/v1/ws?ticket=${encodeURIComponent(ticket)}${resume}`);
      this.socket = socket;
      socket.onopen = () => {
        this.retryDelay = 500;
        for (const subscription of this.subscriptions) socket.send(JSON.stringify({ type: "subscribe", ...subscription }));
        if (this.viewing) socket.send(JSON.stringify({ type: "view", task_id: this.viewing }));
      };
      socket.onmessage = (message) => this.receive(JSON.parse(String(message.data)) as LiveEvent);
      socket.onclose = () => {
        this.onState(false);
        this.reconnectLater();
      };
    } catch {
      this.reconnectLater();
    }
  }

  private receive(event: LiveEvent) {
    if (event.type === "subscribed") this.onState(true);
    // The log moved past what a resume can replay: whatever is shown is read again.
    if (event.type === "resync") this.onEvent(event);
    if (!event.id) return;
    // Events may repeat around a resume: each is handled once.
    if (this.seen.has(event.id)) return;
    this.seen.add(event.id);
    this.lastEventId = event.id;
    this.onEvent(event);
  }

  private reconnectLater() {
    if (this.closed) return;
    setTimeout(() => void this.open(), this.retryDelay);
    this.retryDelay = Math.min(this.retryDelay * 2, 10_000);
  }
}
