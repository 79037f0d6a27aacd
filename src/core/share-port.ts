// The share-link port, owned by the core: view-only links to a session's
// desktop. Only a secret's SHA-256 is kept, like session tokens. A link lives
// while its session runs; revoking sets `revokedAt` (kept for the record).
export interface ShareRecord {
  id: string;
  sessionId: string;
  secretHash: string;
  createdAt: number;
  revokedAt: number | null;
}

export interface ShareStore {
  insertShare(share: ShareRecord): Promise<void>;
  getShare(id: string): Promise<ShareRecord | undefined>;
  /** A session's links that were not revoked, oldest first. */
  activeShares(sessionId: string): Promise<ShareRecord[]>;
  /** Marks the link revoked; false when it was not an active link of that session. */
  revokeShare(sessionId: string, id: string, now: number): Promise<boolean>;
}
