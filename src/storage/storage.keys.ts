/** The buckets and the key prefixes each may hold. Ground truth has a bucket of its own that no sandbox mounts. */
export const BUCKET_PREFIXES = {
  inputs: ['cohorts/'],
  truth: ['truth/'],
  submissions: ['submissions/', 'staging/'],
  artifacts: ['runs/', 'reports/'],
  /** Validation reports (evidence.json, report.html, report.pdf) under content-addressed keys. */
  reports: ['reports/'],
} as const;

export type BucketName = keyof typeof BUCKET_PREFIXES;

const SAFE_KEY = /^[A-Za-z0-9][A-Za-z0-9._\-/]*$/;

/** Every key is checked: no '..', no absolute paths, no empty segments, only the bucket's known prefixes. */
export function assertValidKey(bucket: BucketName, key: string): void {
  const problem = keyProblem(bucket, key);
  if (problem) throw new Error(`refused object key '${key}' in bucket ${bucket}: ${problem}`);
}

export function keyProblem(bucket: BucketName, key: string): string | null {
  if (key.length === 0 || key.length > 512) return 'length must be 1..512';
  if (!SAFE_KEY.test(key)) return 'only letters, digits, . _ - / allowed, not starting with /';
  if (key.split('/').some((segment) => segment === '' || segment === '.' || segment === '..')) {
    return 'empty, . or .. path segment';
  }
  if (!BUCKET_PREFIXES[bucket].some((prefix) => key.startsWith(prefix))) {
    return `must start with one of ${BUCKET_PREFIXES[bucket].join(', ')}`;
  }
  return null;
}
