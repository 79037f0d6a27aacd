// The open desktop streams of this process, by session and by share link, so
// that ending a session or revoking a link closes its viewers at once, and the
// number of viewers per link can be capped.
import { closeCodes, type Bridge } from './bridge.ts';

export interface DesktopStream {
  sessionId: string;
  /** Set for a share link's viewers. */
  shareId?: string;
  bridge: Bridge;
}

export class DesktopHub {
  private readonly streams = new Set<DesktopStream>();

  add(stream: DesktopStream): void {
    this.streams.add(stream);
    stream.bridge.closed.then(() => this.streams.delete(stream));
  }

  sessionIds(): Set<string> {
    return new Set([...this.streams].map((s) => s.sessionId));
  }

  viewersOf(shareId: string): number {
    return [...this.streams].filter((s) => s.shareId === shareId).length;
  }

  countFor(sessionId: string): number {
    return [...this.streams].filter((s) => s.sessionId === sessionId).length;
  }

  /** The session ended: every stream of it closes with 4000 session_ended. */
  endSession(sessionId: string): void {
    for (const s of this.streams) if (s.sessionId === sessionId) s.bridge.close(closeCodes.sessionEnded, 'session_ended');
  }

  /** The link was revoked: its viewers close with 4001 share_revoked. */
  revokeShare(shareId: string): void {
    for (const s of this.streams) if (s.shareId === shareId) s.bridge.close(closeCodes.shareRevoked, 'share_revoked');
  }

  closeAll(): void {
    for (const s of this.streams) s.bridge.close(1001, 'server_stopping');
  }
}
