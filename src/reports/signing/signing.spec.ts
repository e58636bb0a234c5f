import fc from 'fast-check';
import { PDFDocument, StandardFonts } from 'pdf-lib';
import { canonicalJson } from '../../common/canonical-json';
import { evidenceFixture } from '../../../test/support/evidence-fixture';
import type { EvidenceRecord, SignedEvidence } from '../evidence';
import { generateReportKey, parsePrivateKeyPem, PublicKeyInfo, sha256Hex } from './ed25519';
import type { SigningKey } from './report-keys';
import { signEvidence } from './report-signer';
import { evidenceScript, extractPdfEvidence, sealHtml, sealPdf } from './seal';
import { keyLookupOf, VerifyResult, verifyDigestSignature, verifyReport } from './verify';

function newKey(createdAt = '2026-11-01T00:00:00.000Z'): { key: SigningKey; info: PublicKeyInfo } {
  const g = generateReportKey();
  return { key: { keyId: g.keyId, publicKey: g.publicKey, privateKey: parsePrivateKeyPem(g.privateKeyPem).privateKey }, info: { keyId: g.keyId, alg: 'Ed25519', publicKey: g.publicKey, createdAt, retiredAt: null } };
}

const html = (signed: SignedEvidence, body = '<h1>Validation report</h1><p>AUROC 0.91 (0.87–0.94)</p>'): string =>
  `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Report</title></head><body>${body}${evidenceScript(signed)}</body></html>\n`;

async function pdfOf(text: string): Promise<Uint8Array> {
  const doc = await PDFDocument.create();
  const page = doc.addPage([595, 842]);
  page.drawText(text, { x: 50, y: 780, size: 14, font: await doc.embedFont(StandardFonts.Helvetica) });
  return doc.save();
}

const failed = (r: VerifyResult): string[] => r.checks.filter((c) => !c.ok).map((c) => c.name);
const detail = (r: VerifyResult, name: string): string => r.checks.find((c) => c.name === name)?.detail ?? '';

describe('report signing: sign, seal, verify', () => {
  const { key, info } = newKey();
  const keys = keyLookupOf([info]);
  const signed = signEvidence(evidenceFixture(), key);

  it('signs the canonical bytes of the record and says so in the signature', () => {
    const canonical = canonicalJson(signed.evidence);
    expect(signed.signature).toMatchObject({ alg: 'Ed25519', keyId: info.keyId, evidenceSha256: sha256Hex(canonical) });
    expect(signed.signature.value).toMatch(/^[A-Za-z0-9_-]{86}$/);
    expect(info.keyId).toMatch(/^ed25519-[0-9a-f]{16}$/);
    expect(info.keyId).toBe(`ed25519-${sha256Hex(Buffer.from(info.publicKey, 'base64')).slice(0, 16)}`);
    // Same record, same key: same signature (Ed25519 is deterministic), and the same hash after a JSON round trip.
    expect(signEvidence(JSON.parse(JSON.stringify(evidenceFixture())) as EvidenceRecord, key)).toEqual(signed);
  });

  it('verifies an evidence.json, and names the failing check when a value, the signature or the key is wrong', async () => {
    const ok = await verifyReport(Buffer.from(JSON.stringify(signed)), keys);
    expect(ok).toMatchObject({ valid: true, format: 'json', reportId: signed.evidence.reportId, keyId: info.keyId, evidenceSha256: signed.signature.evidenceSha256 });
    expect(ok.checks.map((c) => c.name)).toEqual(['parse', 'record-shape', 'evidence-hash', 'key-known', 'evidence-signature', 'digest-signature']);

    const changed = JSON.parse(JSON.stringify(signed)) as SignedEvidence;
    changed.evidence.primary.endpoint.value = 0.99;
    const r1 = await verifyReport(Buffer.from(JSON.stringify(changed)), keys);
    expect(r1.valid).toBe(false);
    expect(failed(r1)).toEqual(['evidence-hash', 'evidence-signature']);
    expect(detail(r1, 'evidence-hash')).toContain(signed.signature.evidenceSha256);
    expect(detail(r1, 'evidence-hash')).toContain(sha256Hex(canonicalJson(changed.evidence)));

    const badSig = { ...signed, signature: { ...signed.signature, value: `${signed.signature.value.slice(0, 85)}${signed.signature.value.endsWith('A') ? 'B' : 'A'}` } };
    expect(failed(await verifyReport(Buffer.from(JSON.stringify(badSig)), keys))).toEqual(['evidence-signature']);
    // The last character holds 4 unused bits: a spelling that decodes to the same bytes is refused all the same.
    const last = signed.signature.value.slice(-1);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const sameBytes = alphabet[alphabet.indexOf(last) ^ 1] as string;
    const respelt = { ...signed, signature: { ...signed.signature, value: `${signed.signature.value.slice(0, 85)}${sameBytes}` } };
    expect(Buffer.from(respelt.signature.value, 'base64url').equals(Buffer.from(signed.signature.value, 'base64url'))).toBe(true);
    expect(failed(await verifyReport(Buffer.from(JSON.stringify(respelt)), keys))).toEqual(['evidence-signature']);

    const stranger = newKey();
    const unknown = await verifyReport(Buffer.from(JSON.stringify(signEvidence(evidenceFixture(), stranger.key))), keys);
    expect(failed(unknown)).toEqual(['key-known', 'evidence-signature', 'digest-signature']);
    expect(detail(unknown, 'key-known')).toContain(`unknown key id ${stranger.info.keyId}`);

    // A key published under another key's id is not believed.
    const forged = await verifyReport(Buffer.from(JSON.stringify(signed)), keyLookupOf([{ ...info, publicKey: stranger.info.publicKey }]));
    expect(detail(forged, 'key-known')).toMatch(/does not hash to its id/);
  });

  it('verifies evidence.json only in a form Assay writes, holding only the record and its signature', async () => {
    // Both forms Assay writes are valid: canonical JSON (the download) and JSON.stringify (the embedded copy), with or
    // without a final newline.
    expect((await verifyReport(Buffer.from(canonicalJson(signed)), keys)).valid).toBe(true);
    expect((await verifyReport(Buffer.from(`${canonicalJson(signed)}\n`), keys)).valid).toBe(true);
    // The copy embedded in the HTML (every '<' as \u003c; the fixture holds '<' in a suppressed row's n), copied out.
    const embedded = evidenceScript(signed).replace(/^<script[^>]*>/, '').replace(/<\/script>$/, '');
    expect(embedded).toContain('\\u003c');
    expect((await verifyReport(Buffer.from(embedded), keys)).valid).toBe(true);
    // A member outside the evidence is neither hashed nor signed: refused, named.
    const note = await verifyReport(Buffer.from(canonicalJson({ ...signed, note: 'Approved by the notified body' })), keys);
    expect(note.valid).toBe(false);
    expect(failed(note)).toEqual(['record-shape']);
    expect(detail(note, 'record-shape')).toContain('"note"');
    const sigExtra = await verifyReport(Buffer.from(canonicalJson({ ...signed, signature: { ...signed.signature, comment: 'x' } })), keys);
    expect(failed(sigExtra)).toEqual(['record-shape']);
    // Without the hash signature the check is not skipped: it fails, and so does the shape.
    const { digestValue: _dropped, ...noDigest } = signed.signature;
    const r = await verifyReport(Buffer.from(canonicalJson({ ...signed, signature: noDigest })), keys);
    expect(failed(r)).toEqual(['record-shape', 'digest-signature']);
    expect(detail(r, 'record-shape')).toContain('signature.digestValue');
    // A repeated member: JSON.parse keeps the last (the signed one) but a reader that keeps the first would show 0.999.
    const endpoint = canonicalJson(signed.evidence.primary.endpoint);
    const canon = canonicalJson(signed);
    expect(canon).toContain(`"endpoint":${endpoint}`);
    const twice = canon.replace(`"endpoint":${endpoint}`, `"endpoint":${canonicalJson({ ...signed.evidence.primary.endpoint, value: 0.999 })},"endpoint":${endpoint}`);
    const dup = await verifyReport(Buffer.from(twice), keys);
    expect(dup.valid).toBe(false);
    expect(failed(dup)).toEqual(['parse']);
    expect(detail(dup, 'parse')).toMatch(/not as Assay writes it/);
    // Re-indented is refused the same way (the file is not the one downloaded).
    expect(failed(await verifyReport(Buffer.from(JSON.stringify(signed, null, 2)), keys))).toEqual(['parse']);
  });

  it('keeps a report signed with a retired key valid after rotation', async () => {
    const next = newKey('2026-12-01T12:00:00.000Z');
    const published = keyLookupOf([{ ...info, retiredAt: '2026-12-01T12:00:00.000Z' }, next.info]);
    expect((await verifyReport(Buffer.from(JSON.stringify(signed)), published)).valid).toBe(true);
    expect((await verifyReport(Buffer.from(JSON.stringify(signEvidence(evidenceFixture(), next.key))), published)).valid).toBe(true);
  });

  it('checks a signature over a claimed hash (GET /api/reports/verify)', () => {
    const input = { evidenceSha256: signed.signature.evidenceSha256, keyId: info.keyId, signature: signed.signature.digestValue as string };
    expect(verifyDigestSignature(input, keys)).toMatchObject({ valid: true });
    const other = verifyDigestSignature({ ...input, evidenceSha256: 'f'.repeat(64) }, keys);
    expect(other.valid).toBe(false);
    expect(other.checks.find((c) => !c.ok)?.detail).toContain('f'.repeat(64));
    expect(verifyDigestSignature({ ...input, keyId: 'ed25519-0000000000000000' }, keys).checks[0]).toMatchObject({ name: 'key-known', ok: false });
    // The record's own signature is over the canonical bytes, not the hash: it does not pass as a hash signature.
    expect(verifyDigestSignature({ ...input, signature: signed.signature.value }, keys).valid).toBe(false);
  });

  describe('HTML', () => {
    const document = html(signed);
    const sealed = sealHtml(document, signed, key);

    it('embeds the record with "<" escaped and appends the seal as the last bytes', async () => {
      expect(evidenceScript(signed)).not.toMatch(/<(?!script|\/script>$)/);
      expect(sealed.startsWith(document)).toBe(true);
      const tail = sealed.slice(document.length);
      expect(tail).toMatch(/^\n<!--assay-seal:\{.*\}-->\n$/);
      const seal = JSON.parse(tail.slice('\n<!--assay-seal:'.length, -'-->\n'.length)) as Record<string, string>;
      expect(seal).toMatchObject({ alg: 'Ed25519', keyId: info.keyId, format: 'html', reportId: signed.evidence.reportId, evidenceSha256: signed.signature.evidenceSha256, documentSha256: sha256Hex(Buffer.from(document)) });
      const result = await verifyReport(Buffer.from(sealed), keys);
      expect(result).toMatchObject({ valid: true, format: 'html', keyId: info.keyId });
      expect(result.checks.map((c) => c.name)).toEqual(['parse', 'embedded-evidence', 'record-shape', 'evidence-hash', 'key-known', 'evidence-signature', 'digest-signature', 'seal-present', 'document-hash', 'seal-signature', 'seal-matches-evidence']);
    });

    it('refuses to seal a document that embeds another record', () => {
      const other = signEvidence(evidenceFixture({ reportId: 'f'.repeat(32) }), key);
      expect(() => sealHtml(html(other), signed, key)).toThrow(/another evidence record/);
      expect(() => sealHtml('<html></html>', signed, key)).toThrow(/no <script/);
    });

    it('fails document-hash when a byte of the visible body changes, and seal-present when the seal is cut off', async () => {
      const tampered = sealed.replace('AUROC 0.91', 'AUROC 0.99');
      const r = await verifyReport(Buffer.from(tampered), keys);
      expect(failed(r)).toEqual(['document-hash']);
      expect(detail(r, 'document-hash')).toContain(sha256Hex(Buffer.from(document.replace('AUROC 0.91', 'AUROC 0.99'))));
      const cut = await verifyReport(Buffer.from(document), keys);
      expect(failed(cut)).toEqual(['seal-present']);
      expect(cut.valid).toBe(false);
    });

    it('accepts only the seal line the signer writes: an extra member (markup after "-->"), another order or spacing is refused', async () => {
      const at = sealed.lastIndexOf('\n<!--assay-seal:');
      const sealText = sealed.slice(at + '\n<!--assay-seal:'.length, -'-->\n'.length);
      const seal = JSON.parse(sealText) as Record<string, string>;
      const withSeal = (text: string) => `${sealed.slice(0, at)}\n<!--assay-seal:${text}-->\n`;
      // The document hash covers only the bytes before the seal: this overlay would show as a page with a valid seal.
      const overlay = '--><div style="position:fixed;inset:0;background:#fff">AUROC 0.99: MET</div><script>alert(1)</script><!--';
      const injected = await verifyReport(Buffer.from(withSeal(JSON.stringify({ ...seal, note: overlay }))), keys);
      expect(injected.valid).toBe(false);
      expect(failed(injected)).toEqual(['seal-present']);
      expect(detail(injected, 'seal-present')).toContain('unsigned member "note"');
      const { alg, ...rest } = seal;
      expect(failed(await verifyReport(Buffer.from(withSeal(JSON.stringify({ ...rest, alg }))), keys))).toEqual(['seal-present']);
      expect(failed(await verifyReport(Buffer.from(withSeal(JSON.stringify(seal, null, 1).replace(/\n/g, ''))), keys))).toEqual(['seal-present']);
      expect((await verifyReport(Buffer.from(withSeal(sealText)), keys)).valid).toBe(true);
    });

    it('fails seal-matches-evidence when the embedded record is swapped for another validly signed one', async () => {
      const other = signEvidence(evidenceFixture({ reportId: 'f'.repeat(32), limitations: ['another report'] }), key);
      const swapped = sealed.replace(evidenceScript(signed), evidenceScript(other));
      const r = await verifyReport(Buffer.from(swapped), keys);
      expect(failed(r)).toEqual(['document-hash', 'seal-matches-evidence']);
      expect(detail(r, 'seal-matches-evidence')).toContain(other.signature.evidenceSha256);
      // Even re-sealing the swapped body cannot help without the key: a stranger's seal is unknown.
      const stranger = newKey();
      const resealed = sealHtml(html(other), other, stranger.key);
      expect(failed(await verifyReport(Buffer.from(resealed), keys))).toEqual(['key-known', 'seal-signature']);
    });
  });

  describe('PDF', () => {
    let plain: Uint8Array;
    let sealed: Buffer;
    beforeAll(async () => {
      plain = await pdfOf('Validation report: AUROC 0.91 (0.87-0.94)');
      sealed = await sealPdf(plain, signed, key);
    });

    it('attaches the record, fixes the dates to the report date, appends the seal after %%EOF, and verifies', async () => {
      const text = sealed.toString('latin1');
      const at = text.lastIndexOf('\n%assay-seal:');
      expect(text.slice(0, at).trimEnd().endsWith('%%EOF')).toBe(true);
      expect(text.endsWith('}\n')).toBe(true);
      const seal = JSON.parse(text.slice(at + '\n%assay-seal:'.length, -1)) as Record<string, string>;
      expect(seal).toMatchObject({ format: 'pdf', documentSha256: sha256Hex(sealed.subarray(0, at)) });
      const doc = await PDFDocument.load(sealed.subarray(0, at), { updateMetadata: false });
      expect(doc.getCreationDate()?.toISOString()).toBe(signed.evidence.date);
      expect(doc.getModificationDate()?.toISOString()).toBe(signed.evidence.date);
      const embedded = await extractPdfEvidence(sealed.subarray(0, at));
      expect(embedded).toEqual({ value: signed });
      expect(await verifyReport(sealed, keys)).toMatchObject({ valid: true, format: 'pdf', reportId: signed.evidence.reportId, evidenceSha256: signed.signature.evidenceSha256 });
      // Deterministic: sealing again gives the same bytes.
      expect((await sealPdf(plain, signed, key)).equals(sealed)).toBe(true);
    });

    it('fails on a changed body byte, a removed seal and a swapped record', async () => {
      const at = sealed.lastIndexOf(Buffer.from('\n%assay-seal:'));
      const flipped = Buffer.from(sealed);
      const target = flipped.indexOf(Buffer.from('/Producer'));
      flipped[target + 1] = 'Q'.charCodeAt(0);
      const r = await verifyReport(flipped, keys);
      expect(r.valid).toBe(false);
      expect(failed(r)).toContain('document-hash');

      expect(failed(await verifyReport(sealed.subarray(0, at + 1), keys))).toEqual(['seal-present']);

      const other = signEvidence(evidenceFixture({ reportId: 'e'.repeat(32) }), key);
      const otherSealed = await sealPdf(plain, other, key);
      const swapped = Buffer.concat([otherSealed.subarray(0, otherSealed.lastIndexOf(Buffer.from('\n%assay-seal:'))), sealed.subarray(at)]);
      expect(failed(await verifyReport(swapped, keys))).toEqual(['document-hash', 'seal-matches-evidence']);
    });

    it('refuses a PDF seal line carrying more than the signer wrote', async () => {
      const at = sealed.lastIndexOf(Buffer.from('\n%assay-seal:'));
      const seal = JSON.parse(sealed.subarray(at + '\n%assay-seal:'.length, sealed.length - 1).toString('utf8')) as Record<string, string>;
      const extended = Buffer.concat([sealed.subarray(0, at), Buffer.from(`\n%assay-seal:${JSON.stringify({ ...seal, approvedBy: 'notified body' })}\n`)]);
      const r = await verifyReport(extended, keys);
      expect(failed(r)).toEqual(['seal-present']);
      expect(detail(r, 'seal-present')).toContain('"approvedBy"');
    });

    it('never throws on hostile bytes: random, truncated, one byte flipped anywhere', async () => {
      const documentEnd = sealed.lastIndexOf(Buffer.from('\n%assay-seal:'));
      const inputs = fc.oneof(
        fc.uint8Array({ maxLength: 2000 }).map((b) => ({ bytes: Buffer.from(b), body: false })),
        fc.uint8Array({ maxLength: 300 }).map((b) => ({ bytes: Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.from(b)]), body: false })),
        fc.integer({ min: 0, max: sealed.length - 1 }).map((n) => ({ bytes: sealed.subarray(0, n), body: false })),
        fc.tuple(fc.integer({ min: 0, max: sealed.length - 1 }), fc.integer({ min: 1, max: 255 })).map(([i, x]) => {
          const b = Buffer.from(sealed);
          b[i] = (b[i] as number) ^ x;
          return { bytes: b, body: i < documentEnd };
        }),
      );
      await fc.assert(
        fc.asyncProperty(inputs, async ({ bytes, body }) => {
          const r = await verifyReport(bytes, keys);
          expect(r.valid).toBe(false);
          if (body) expect(failed(r)).toContain('document-hash');
        }),
        { numRuns: 150, seed: 1 },
      );
    });
  });

  it('never throws on hostile HTML or JSON, and a flipped byte of the HTML body fails document-hash', async () => {
    const sealed = Buffer.from(sealHtml(html(signed), signed, key));
    const documentEnd = sealed.lastIndexOf(Buffer.from('\n<!--assay-seal:'));
    const json = Buffer.from(JSON.stringify(signed));
    const inputs = fc.oneof(
      fc.string({ maxLength: 300 }).map((s) => ({ bytes: Buffer.from(`<!doctype html>${s}`), body: false })),
      fc.jsonValue().map((v) => ({ bytes: Buffer.from(`{"evidence":${JSON.stringify(v)},"signature":${JSON.stringify(v)}}`), body: false })),
      fc.constantFrom('{"evidence":{"a":"\\ud800"},"signature":{}}', '{', '{"evidence":null}', '<!doctype html><script type="application/json" id="assay-evidence">{</script>\n<!--assay-seal:{}-->\n').map((t) => ({ bytes: Buffer.from(t), body: false })),
      fc.tuple(fc.integer({ min: 0, max: sealed.length - 1 }), fc.integer({ min: 1, max: 255 })).map(([i, x]) => {
        const b = Buffer.from(sealed);
        b[i] = (b[i] as number) ^ x;
        return { bytes: b, body: i < documentEnd };
      }),
      fc.tuple(fc.integer({ min: 0, max: json.length - 1 }), fc.integer({ min: 1, max: 255 })).map(([i, x]) => {
        const b = Buffer.from(json);
        b[i] = (b[i] as number) ^ x;
        return { bytes: b, body: false };
      }),
      fc.integer({ min: 0, max: sealed.length - 1 }).map((n) => ({ bytes: sealed.subarray(0, n), body: false })),
    );
    await fc.assert(
      fc.asyncProperty(inputs, async ({ bytes, body }) => {
        const r = await verifyReport(bytes, keys);
        expect(typeof r.valid).toBe('boolean');
        if (body) {
          expect(r.valid).toBe(false);
          expect(failed(r)).toContain('document-hash');
        }
      }),
      { numRuns: 400, seed: 2 },
    );
  });
});
