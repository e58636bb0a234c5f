import { Injectable } from '@nestjs/common';
import { canonicalJson } from '../../common/canonical-json';
import type { EvidenceRecord, SignedEvidence } from '../evidence';
import type { ReportSigner } from '../report-ports';
import { digestMessage, REPORT_SIGNATURE_ALG, sha256Hex, signEd25519 } from './ed25519';
import { ReportKeyStore, SigningKey } from './report-keys';
import { sealHtml, sealPdf } from './seal';

/** Signs an evidence record with a given key (pure; the Nest signer below picks the current key). */
export function signEvidence(evidence: EvidenceRecord, key: SigningKey): SignedEvidence {
  const canonical = Buffer.from(canonicalJson(evidence), 'utf8');
  const evidenceSha256 = sha256Hex(canonical);
  return {
    evidence,
    signature: {
      alg: REPORT_SIGNATURE_ALG,
      keyId: key.keyId,
      evidenceSha256,
      value: signEd25519(key.privateKey, canonical),
      digestValue: signEd25519(key.privateKey, digestMessage(evidenceSha256)),
    },
  };
}

/** The pipeline's ReportSigner (REPORT_SIGNER): Ed25519 with the store's current key; seals per signing/seal.ts. */
@Injectable()
export class ReportSignerService implements ReportSigner {
  constructor(private readonly keys: ReportKeyStore) {}

  async sign(evidence: EvidenceRecord): Promise<SignedEvidence> {
    return signEvidence(evidence, await this.keys.current());
  }

  async sealHtml(html: string, signed: SignedEvidence): Promise<string> {
    return sealHtml(html, signed, await this.keys.current());
  }

  async sealPdf(pdf: Uint8Array, signed: SignedEvidence): Promise<Buffer> {
    return sealPdf(pdf, signed, await this.keys.current());
  }
}
