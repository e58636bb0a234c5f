import fc from 'fast-check';
import { CappedLog, escapeLogBytes, joinRunLogs } from './capped-log';

describe('CappedLog', () => {
  it('keeps everything when the log fits the cap', () => {
    const log = new CappedLog(100);
    log.push(Buffer.from('hello '));
    log.push(Buffer.from('world'));
    expect(log.text()).toBe('hello world');
    expect(log.truncated).toBe(false);
  });

  it('keeps the head and the tail and says how much it dropped when the log exceeds the cap', () => {
    const log = new CappedLog(10);
    log.push(Buffer.from('HEAD-'));
    for (let i = 0; i < 100; i++) log.push(Buffer.from('x'));
    log.push(Buffer.from('-TAIL'));
    expect(log.truncated).toBe(true);
    expect(log.text()).toBe('HEAD-\n[... 100 bytes of log dropped ...]\n-TAIL');
  });

  it('never holds more than the cap in memory when fed one large chunk', () => {
    const log = new CappedLog(8);
    log.push(Buffer.alloc(1_000_000, 97));
    expect(log.text().replace(/\n\[.*\]\n/, '')).toBe('aaaaaaaa');
    expect(log.truncated).toBe(true);
  });
});

describe('CappedLog bytes', () => {
  it('keeps every byte as written: NUL, invalid UTF-8, an encoded lone surrogate', () => {
    const raw = Buffer.from([0x61, 0x00, 0x62, 0xff, 0xfe, 0xed, 0xa0, 0x80, 0x0a]);
    const log = new CappedLog(100);
    log.push(raw);
    expect(log.bytes().equals(raw)).toBe(true);
    expect(log.text()).toBe('a\\u{0}b\\xff\\xfe\\xed\\xa0\\x80\n');
  });
});

describe('joinRunLogs', () => {
  it('joins batch logs with a newline and keeps them byte for byte under the cap', () => {
    const out = joinRunLogs([Buffer.from([0, 1]), Buffer.from([0xff])], 100);
    expect([...out]).toEqual([0, 1, 0x0a, 0xff]);
  });

  it('caps the whole at head + marker + tail, counting bytes, not characters', () => {
    const out = joinRunLogs([Buffer.alloc(1000, 0x00), Buffer.alloc(1000, 0xff)], 100);
    expect(out.subarray(0, 50).every((b) => b === 0)).toBe(true);
    expect(out.subarray(out.length - 50).every((b) => b === 0xff)).toBe(true);
    expect(out.toString('latin1')).toContain('[... 1901 bytes cut ...]');
    expect(out.length).toBeLessThan(100 + 40);
  });
});

describe('escapeLogBytes', () => {
  const esc = (bytes: number[]): string => escapeLogBytes(Buffer.from(bytes));

  it('leaves printable UTF-8, newline and tab alone', () => {
    expect(escapeLogBytes(Buffer.from('héllo\twörld ✓ 🩺\n'))).toBe('héllo\twörld ✓ 🩺\n');
  });

  it('escapes backslash, NUL, CR, ESC and DEL so that the form is unambiguous', () => {
    expect(escapeLogBytes(Buffer.from('a\\b\0c\rd\x1b[2Je\x7f'))).toBe('a\\\\b\\u{0}c\\u{d}d\\u{1b}[2Je\\u{7f}');
  });

  it.each<[string, number[], string]>([
    ['a stray continuation byte', [0x80], '\\x80'],
    ['a truncated 2-byte sequence', [0xc3], '\\xc3'],
    ['an overlong NUL (C0 80)', [0xc0, 0x80], '\\xc0\\x80'],
    ['an overlong 3-byte form', [0xe0, 0x80, 0xaf], '\\xe0\\x80\\xaf'],
    ['a high surrogate encoded alone (ED A0 80)', [0xed, 0xa0, 0x80], '\\xed\\xa0\\x80'],
    ['a low surrogate encoded alone (ED BF BF)', [0xed, 0xbf, 0xbf], '\\xed\\xbf\\xbf'],
    ['past U+10FFFF (F4 90 80 80)', [0xf4, 0x90, 0x80, 0x80], '\\xf4\\x90\\x80\\x80'],
    ['FF and FE', [0xff, 0xfe], '\\xff\\xfe'],
  ])('writes %s as \\xHH', (_what, bytes, expected) => {
    expect(esc(bytes)).toBe(expected);
  });

  it('escapes C1 controls, bidi overrides and line separators, which can make a log line lie', () => {
    expect(escapeLogBytes(Buffer.from('x\u0085y\u202ez\u2028w\u2066v\ufeff'))).toBe('x\\u{85}y\\u{202e}z\\u{2028}w\\u{2066}v\\u{feff}');
  });

  it('never yields NUL or a lone surrogate, and keeps the exact bytes recoverable, for any input', () => {
    const unescape = (s: string): Buffer => {
      const parts: Buffer[] = [];
      const re = /\\\\|\\x([0-9a-f]{2})|\\u\{([0-9a-f]+)\}|[^\\]+/gsu;
      for (const m of s.matchAll(re)) {
        if (m[0] === '\\\\') parts.push(Buffer.from('\\'));
        else if (m[1]) parts.push(Buffer.from([parseInt(m[1], 16)]));
        else if (m[2]) parts.push(Buffer.from(String.fromCodePoint(parseInt(m[2], 16))));
        else parts.push(Buffer.from(m[0]));
      }
      return Buffer.concat(parts);
    };
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const text = escapeLogBytes(bytes);
        expect(text).not.toContain('\0');
        // No lone surrogate: a well-formed string survives a UTF-8 round trip unchanged.
        expect(Buffer.from(text, 'utf8').toString('utf8')).toBe(text);
        expect(unescape(text).equals(Buffer.from(bytes))).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});
