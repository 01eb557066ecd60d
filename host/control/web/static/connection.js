// The WebSocket to mixhost: JSON messages both ways, reconnecting by itself.
//
// The token of the page's URL (on a network bind) goes with the socket.  A lost
// connection is retried with a growing delay (250 ms up to 2 s); each connect
// brings the whole state again (a `layout` message), so the page redraws.

const FIRST_RETRY_MS = 250;
const LAST_RETRY_MS = 2000;

export class Connection {
  constructor(onMessage, onStatus) {
    this.onMessage = onMessage;
    this.onStatus = onStatus;
    this.retry = FIRST_RETRY_MS;
    this.socket = null;
    this.connects = 0;
  }

  url() {
    const token = new URLSearchParams(location.search).get("token");
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}/ws` + (token ? `?token=${encodeURIComponent(token)}` : "");
  }

  open() {
    const socket = new WebSocket(this.url());
    this.socket = socket;
    socket.addEventListener("open", () => {
      this.retry = FIRST_RETRY_MS;
      this.connects += 1;
      this.onStatus("connected");
    });
    socket.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      this.onMessage(message);
    });
    socket.addEventListener("close", () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.onStatus("reconnecting");
      setTimeout(() => this.open(), this.retry);
      this.retry = Math.min(this.retry * 2, LAST_RETRY_MS);
    });
  }

  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(message));
      return true;
    }
    return false;
  }
}
