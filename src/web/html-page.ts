import { randomBytes } from 'node:crypto';

/**
 * A rendered page as the pieces it was put together from: the page's own markup (made per request: it carries the
 * reader's CSRF token and name) and fragments kept as UTF-8 bytes across requests (a benchmark's leaderboard sections,
 * over 100 KB of a 1,000-entry board's page). Sent as the pieces' bytes concatenated, so a kept fragment is copied,
 * never turned back into a string and encoded again: the page's string is a rope of thousands of pieces, and making it
 * bytes (flattening it, then UTF-8) cost about 1.5 ms a request on the CI machine, most of the page's CPU at 200
 * requests/s (perf/RESULTS.md).
 */
export class HtmlPage {
  constructor(readonly parts: readonly (string | Buffer)[]) {}

  bytes(): Buffer {
    const buffers = this.parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : p));
    return buffers.length === 1 ? (buffers[0] as Buffer) : Buffer.concat(buffers);
  }

  /** The whole page as text (tests, and what a string route would have returned). */
  toString(): string {
    return this.parts.map((p) => (typeof p === 'string' ? p : p.toString('utf8'))).join('');
  }
}

/**
 * Where a kept fragment goes in a template: a comment no rendered value can produce (the templates autoescape every
 * value, so `<` never comes from data), with a per-process nonce besides. `splice` finds the slots in the rendered
 * page and puts the fragments' bytes there, each exactly once and in order, or throws.
 */
export class FragmentSlots {
  private static readonly nonce = randomBytes(8).toString('hex');
  private readonly fragments: Buffer[] = [];

  /** The slot's marker, to render (unescaped) where the fragment goes. */
  slot(fragment: Buffer): string {
    this.fragments.push(fragment);
    return FragmentSlots.marker(this.fragments.length - 1);
  }

  splice(rendered: string): HtmlPage {
    const parts: (string | Buffer)[] = [];
    let from = 0;
    this.fragments.forEach((fragment, i) => {
      const marker = FragmentSlots.marker(i);
      const at = rendered.indexOf(marker, from);
      if (at < 0) throw new Error(`page template did not place fragment ${i} (or placed them out of order)`);
      parts.push(rendered.slice(from, at), fragment);
      from = at + marker.length;
    });
    parts.push(rendered.slice(from));
    if (parts.some((p) => typeof p === 'string' && p.includes(FragmentSlots.prefix()))) throw new Error('page template placed a fragment twice');
    return new HtmlPage(parts);
  }

  private static prefix(): string {
    return `<!--assay-fragment:${FragmentSlots.nonce}:`;
  }

  private static marker(i: number): string {
    return `${FragmentSlots.prefix()}${i}-->`;
  }
}
