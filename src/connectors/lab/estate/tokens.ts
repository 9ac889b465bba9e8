import { randomBytes } from 'node:crypto';

/** The vendors whose connectors use OAuth tokens the lab issues. */
export type TokenAudience = 'crowdstrike' | 'defender' | 'graph';

interface Token {
  audience: TokenAudience;
  expiresAt: number;
}

/** OAuth access tokens the lab issued (not persisted: a restarted lab makes connectors fetch new ones). */
export class LabTokens {
  private readonly tokens = new Map<string, Token>();
  private readonly counts: Record<TokenAudience, number> = { crowdstrike: 0, defender: 0, graph: 0 };

  constructor(
    private readonly now: () => number,
    private readonly ttlSeconds: number,
  ) {}

  issue(audience: TokenAudience): { token: string; expiresIn: number } {
    const token = `lab-${audience}-${randomBytes(18).toString('base64url')}`;
    this.tokens.set(token, { audience, expiresAt: this.now() + this.ttlSeconds * 1000 });
    this.counts[audience] += 1;
    return { token, expiresIn: this.ttlSeconds };
  }

  valid(token: string | undefined, audience: TokenAudience): boolean {
    if (!token) return false;
    const t = this.tokens.get(token);
    if (!t || t.audience !== audience) return false;
    if (this.now() >= t.expiresAt) {
      this.tokens.delete(token);
      return false;
    }
    return true;
  }

  expire(audience?: TokenAudience): number {
    let n = 0;
    for (const [k, t] of this.tokens) {
      if (!audience || t.audience === audience) {
        this.tokens.delete(k);
        n++;
      }
    }
    return n;
  }

  issued(): Record<TokenAudience, number> {
    return { ...this.counts };
  }
}
