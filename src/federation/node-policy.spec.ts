import { decideJob, filterEgress, NodePolicy, parsePolicy, pseudonymOf, runTimeProblem } from './node-policy';

const SECRET = Buffer.alloc(32, 7);
const POLICY: NodePolicy = { acceptedBenchmarks: ['wdbc-malignancy'], acceptedVendorOrganisations: ['org-a'], resourceLimits: { maxCpus: 4, maxMemoryMb: 8192, maxGpus: 0 }, egress: 'aggregates' };

/** What a careless (or hostile) handler might hand back: everything that must never leave, next to what may. */
const OUTPUT = {
  aggregates: { n: 40, sumDice: 31.5, auroc: { estimate: 0.81, ci: [0.7, 0.9] }, note: 'x'.repeat(65) },
  scoreDistributions: { positive: [0.9, 0.2, 0.7, 'case-17', Number.NaN], negative: [0.1, 0.4] },
  perCase: [
    { caseId: 'case-b', metrics: { dice: 0.8, path: '/data/case-b.nii.gz' }, age: 71, site: 'A' },
    { caseId: 'case-a', metrics: { dice: 0.6 } },
  ],
  logs: 'vendor stdout: case-a is malignant',
  truth: { 'case-a': 1 },
};

describe('filterEgress (applied on the node before signing)', () => {
  it('lets only the aggregates leave at "aggregates"', () => {
    const out = filterEgress(OUTPUT, 'aggregates', SECRET);
    expect(out).toEqual({ egress: 'aggregates', aggregates: { n: 40, sumDice: 31.5, auroc: { estimate: 0.81, ci: [0.7, 0.9] } } });
    expect(JSON.stringify(out)).not.toMatch(/case-|vendor stdout|\/data\//);
  });

  it('adds the two label-conditional score lists, sorted and numeric only, at "score-distributions"', () => {
    const out = filterEgress(OUTPUT, 'score-distributions', SECRET);
    expect(out.scoreDistributions).toEqual({ positive: [0.2, 0.7, 0.9], negative: [0.1, 0.4] });
    expect(out.perCase).toBeUndefined();
    expect(JSON.stringify(out)).not.toMatch(/case-|vendor stdout|truth/);
  });

  it('adds per-case rows with keyed pseudonyms and numeric metrics only, ordered by pseudonym, at "per-case-pseudonymised"', () => {
    const out = filterEgress(OUTPUT, 'per-case-pseudonymised', SECRET);
    const a = pseudonymOf(SECRET, 'case-a');
    const b = pseudonymOf(SECRET, 'case-b');
    expect(out.perCase).toEqual([...[{ pseudonym: a, metrics: { dice: 0.6 } }, { pseudonym: b, metrics: { dice: 0.8 } }].sort((x, y) => (x.pseudonym < y.pseudonym ? -1 : 1))]);
    expect(JSON.stringify(out)).not.toMatch(/case-[ab17]|vendor stdout|\/data\/|"age"|"site"|truth/);
  });

  it('makes pseudonyms that depend on the node’s secret (another node, or the hub, cannot link or reverse them)', () => {
    expect(pseudonymOf(SECRET, 'case-a')).toBe(pseudonymOf(SECRET, 'case-a'));
    expect(pseudonymOf(SECRET, 'case-a')).not.toBe(pseudonymOf(Buffer.alloc(32, 8), 'case-a'));
    expect(pseudonymOf(SECRET, 'case-a')).toMatch(/^p-[0-9a-f]{32}$/);
  });

  it('refuses to pseudonymise with a short secret', () => {
    expect(() => filterEgress(OUTPUT, 'per-case-pseudonymised', Buffer.alloc(4))).toThrow(/at least 16 bytes/);
  });
});

describe('decideJob (the node’s own policy)', () => {
  const job = { benchmark: 'wdbc-malignancy', vendorOrganisation: 'org-a', resources: { cpus: 2, memoryMb: 4096 } };

  it('accepts a job inside the policy', () => {
    expect(decideJob(POLICY, job)).toEqual({ accept: true });
  });

  it.each([
    ['another benchmark', { ...job, benchmark: 'lung-survival' }, /benchmark 'lung-survival'/],
    ['an unstated benchmark', { vendorOrganisation: 'org-a', resources: job.resources }, /benchmark 'unstated'/],
    ['another vendor', { ...job, vendorOrganisation: 'org-b' }, /vendor organisation 'org-b'/],
    ['too many CPUs', { ...job, resources: { cpus: 8, memoryMb: 1 } }, /cpus 8 exceeds this node's maxCpus 4/],
    ['a GPU where none is allowed', { ...job, resources: { ...job.resources, gpus: 1 } }, /gpus 1 exceeds/],
    ['unstated memory under a memory limit', { ...job, resources: { cpus: 1 } }, /does not state resources.memoryMb/],
  ])('refuses %s', (_what, payload, reason) => {
    const d = decideJob(POLICY, payload);
    expect(d.accept).toBe(false);
    expect(!d.accept && d.reason).toMatch(reason);
  });

  it('accepts any benchmark and vendor under "*"', () => {
    expect(decideJob({ ...POLICY, acceptedBenchmarks: ['*'], acceptedVendorOrganisations: ['*'], resourceLimits: {} }, {})).toEqual({ accept: true });
  });
});

describe('parsePolicy', () => {
  it('reads a policy file', () => {
    expect(parsePolicy(JSON.stringify(POLICY))).toEqual(POLICY);
  });

  it('names every problem of a bad one', () => {
    expect(() => parsePolicy(JSON.stringify({ acceptedBenchmarks: 'all', resourceLimits: { maxCpus: -1, disk: 1 }, egress: 'everything', extra: 1 }))).toThrow(
      /extra: unknown field.*acceptedBenchmarks: must be a list.*acceptedVendorOrganisations: must be a list.*maxCpus: must be a whole number.*disk: unknown limit.*egress: must be one of/,
    );
    expect(() => parsePolicy('{')).toThrow(/not JSON/);
  });
});

describe('runTimeProblem: maxRunSeconds bounds the whole run, not one container', () => {
  const limited: NodePolicy = { ...POLICY, resourceLimits: { maxRunSeconds: 1800 } };
  it('counts the intake check, every batch and the determinism re-run at the benchmark timeout each', () => {
    // 300 cases one at a time at 1800 s each: (1 + 300 + 1) × 1800 s, far beyond 1800 s, though each container fits.
    expect(decideJob(limited, { benchmark: 'wdbc-malignancy', vendorOrganisation: 'org-a', resources: { timeLimitSeconds: 1800 } })).toEqual({ accept: true });
    expect(runTimeProblem(limited, { timeLimitSeconds: 1800, batchSize: 1, cases: 300, determinismRerun: true })).toBe(
      "the run may take up to 543600 s (302 sandbox containers of at most 1800 s: intake check, 300 batch(es) of 1 over 300 cases, determinism re-run), beyond this node's maxRunSeconds 1800",
    );
    // 549 cases in batches of 64 at 60 s: 1 + 9 + 1 = 11 containers, 660 s.
    expect(runTimeProblem(limited, { timeLimitSeconds: 60, batchSize: 64, cases: 549, determinismRerun: true })).toBeNull();
    expect(runTimeProblem(limited, { timeLimitSeconds: 180, batchSize: 64, cases: 549, determinismRerun: true })).toMatch(/up to 1980 s \(11 sandbox containers/);
    // A sample run has no determinism re-run; no limit set, no bound.
    expect(runTimeProblem(limited, { timeLimitSeconds: 900, batchSize: 10, cases: 10, determinismRerun: false })).toBeNull();
    expect(runTimeProblem(POLICY, { timeLimitSeconds: 1e6, batchSize: 1, cases: 1e6, determinismRerun: true })).toBeNull();
  });
});
