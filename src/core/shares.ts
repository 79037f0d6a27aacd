// View-only links to a session's desktop. The owner makes one (a few at most per
// session), passes its URL on, and revokes it when they like; every link ends with
// its session. The link's secret is shown once, in the URL's fragment (never sent to
// a server log), and only its SHA-256 is stored.
import { randomBytes } from 'node:crypto';
import type { Clock } from './clock.ts';
import { hashSecret, secretMatches } from './credentials.ts';
import { errors } from './errors.ts';
import type { SessionRecord } from './session.ts';
import type { ShareRecord, ShareStore } from './share-port.ts';

export const shareIdPattern = '^share-[a-z2-7]{12}$';
const base32 = 'abcdefghijklmnopqrstuvwxyz234567';

function newShareId(): string {
  let id = 'share-';
  for (const b of randomBytes(12)) id += base32[b % 32];
  return id;
}

export interface ShareLimits {
  /** Active links per session. */
  linksPerSession: number;
}

export class ShareService {
  constructor(
    private readonly store: ShareStore,
    private readonly clock: Clock,
    private readonly limits: ShareLimits,
  ) {}

  /** A new link for a ready session; the secret is returned once. */
  async create(session: SessionRecord): Promise<{ share: ShareRecord; secret: string }> {
    if (session.status !== 'ready') throw errors.conflict(`This session is ${session.status}; links can be made once it is ready.`);
    const active = await this.store.activeShares(session.id);
    if (active.length >= this.limits.linksPerSession) {
      throw errors.conflict(`This session already has ${active.length} view links; revoke one first.`, { limit: this.limits.linksPerSession });
    }
    const secret = randomBytes(24).toString('base64url');
    const share: ShareRecord = { id: newShareId(), sessionId: session.id, secretHash: hashSecret(secret), createdAt: this.clock.now(), revokedAt: null };
    await this.store.insertShare(share);
    return { share, secret };
  }

  list(sessionId: string): Promise<ShareRecord[]> {
    return this.store.activeShares(sessionId);
  }

  /** Revokes one of the session's links; 404 for anything else (revoked already, another session's). */
  async revoke(sessionId: string, shareId: string): Promise<void> {
    if (!(await this.store.revokeShare(sessionId, shareId, this.clock.now()))) throw errors.notFound('No such view link.');
  }

  /** The link when `secret` opens it and it was not revoked (the caller still checks its session). */
  async open(shareId: string, secret: string): Promise<ShareRecord | undefined> {
    if (!new RegExp(shareIdPattern).test(shareId)) return undefined;
    const share = await this.store.getShare(shareId);
    if (!share || share.revokedAt !== null || !secretMatches(secret, share.secretHash)) return undefined;
    return share;
  }
}
