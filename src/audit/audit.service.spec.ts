import { AuditEntryEntity } from './audit.entity';
import { auditHash } from './audit.service';

describe('auditHash', () => {
  const entry: Omit<AuditEntryEntity, 'hash'> = {
    seq: '1',
    at: new Date('2026-01-01T00:00:00Z'),
    actorUserId: null,
    action: 'cohort.ingested',
    entityType: 'cohort_version',
    entityId: 'x',
    payload: { b: 1, a: 2 },
    prevHash: '',
  };
  it('does not depend on payload key order', () => {
    expect(auditHash(entry)).toBe(auditHash({ ...entry, payload: { a: 2, b: 1 } }));
  });
  it('changes when any field or the previous hash changes', () => {
    const base = auditHash(entry);
    expect(auditHash({ ...entry, action: 'cohort.deleted' })).not.toBe(base);
    expect(auditHash({ ...entry, prevHash: 'ab' })).not.toBe(base);
    expect(auditHash({ ...entry, payload: { b: 1, a: 3 } })).not.toBe(base);
  });
});
