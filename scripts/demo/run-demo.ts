import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AuthService } from '../../src/auth/auth.service';
import { ApiError, AssayClient } from '../../src/cli/api-client';
import { withAdminContext } from '../../src/cli/admin.command';
import { followSubmission, formatLeaderboard, LeaderboardView } from '../../src/cli/vendor.command';
import { verifyFile } from '../../src/cli/verify.command';
import { loadConfigFromProcess } from '../../src/config/config.module';
import { buildReferenceModels } from '../reference-models/build';
import { writeImageModel } from '../reference-models/build-image-models';
import { lesionSegmentationModel } from '../reference-models/image-models';
import { federationStep } from './federation-demo';

const IMAGING_BENCHMARK = 'lesion-segmentation';

const BENCHMARK = 'wdbc-malignancy';
const say = (line: string): void => void process.stdout.write(`${line}\n`);

interface Vendor {
  org: string;
  email: string;
  /** An ONNX reference model, or the example vendor container image (sandbox-images/examples/wdbc-python). */
  model: 'logreg' | 'baseline' | 'container';
}

const VENDORS: Vendor[] = [
  { org: 'Demo Vendor A (logistic regression)', email: 'vendor-a@demo.assay.local', model: 'logreg' },
  { org: 'Demo Vendor B (one-feature baseline)', email: 'vendor-b@demo.assay.local', model: 'baseline' },
  { org: 'Demo Vendor C (python container)', email: 'vendor-c@demo.assay.local', model: 'container' },
];
const EXAMPLE_IMAGE = 'vendor-example/wdbc-python:1';

async function ensureVendor(admin: AssayClient, v: Vendor): Promise<string> {
  let org = (await admin.get<{ id: string; name: string }[]>('/api/organisations')).find((o) => o.name === v.org);
  org ??= await admin.post<{ id: string; name: string }>('/api/organisations', { name: v.org });
  let user = (await admin.get<{ id: string }[]>(`/api/users?email=${encodeURIComponent(v.email)}`))[0];
  user ??= await admin.post<{ id: string }>('/api/users', { email: v.email, displayName: v.org, role: 'vendor', organisationId: org.id });
  return (await admin.post<{ token: string }>(`/api/users/${user.id}/tokens`, { label: 'demo' })).token;
}

/** The demo: a vendor's whole journey through the HTTP API, against the running API and worker. */
async function main(): Promise<void> {
  const config = loadConfigFromProcess();
  const api = `http://${config.http.host}:${config.http.port}`;
  const stateDir = resolve(config.dataDir);
  mkdirSync(stateDir, { recursive: true });
  const t0 = Date.now();

  const adminToken = (
    await withAdminContext(config, (get) => get(AuthService).bootstrapAdmin({ email: 'admin@demo.assay.local', displayName: 'Demo administrator', allowAdditional: true }))
  ).token;
  writeFileSync(join(stateDir, 'admin-token'), `${adminToken}\n`, { mode: 0o600 });
  const admin = new AssayClient(api, adminToken);
  const benchmark = await admin.get<{ slug: string; version: number; contentHash: string; title: string }>(`/api/benchmarks/${BENCHMARK}`);
  say(`benchmark ${benchmark.slug} v${benchmark.version} (${benchmark.contentHash.slice(0, 12)}): ${benchmark.title}`);

  const vendors: (Vendor & { client: AssayClient })[] = [];
  for (const v of VENDORS) {
    const token = await ensureVendor(admin, v);
    if (vendors.length === 0) writeFileSync(join(stateDir, 'token'), `${token}\n`, { mode: 0o600 });
    vendors.push({ ...v, client: admin.withToken(token) });
  }

  // A vendor downloads the sample split (features and labels) and fits its models on it.
  const sampleCsv = join(stateDir, 'demo', 'wdbc-sample.csv');
  mkdirSync(join(stateDir, 'demo'), { recursive: true });
  writeFileSync(sampleCsv, await (vendors[0] as (typeof vendors)[number]).client.get<string>(`/api/benchmarks/${BENCHMARK}/sample-data`));
  const models = await buildReferenceModels({ sampleCsv, outDir: join(stateDir, 'demo', 'models') });
  say(`fitted two reference models on the ${BENCHMARK} sample split (${sampleCsv})`);

  const imageTarball = join(stateDir, 'demo', 'wdbc-python.tar');
  execFileSync('docker', ['save', '-o', imageTarball, EXAMPLE_IMAGE]);
  for (const v of vendors) {
    const upload: { path: string; label: string; fields: Record<string, string>; fileField: string; filePath: string } =
      v.model === 'container'
        ? { path: '/api/submissions/container', label: `container image ${EXAMPLE_IMAGE} (docker save)`, fields: { benchmark: BENCHMARK, name: 'wdbc-python', version: '1.0.0' }, fileField: 'image', filePath: imageTarball }
        : { path: '/api/submissions', label: `ONNX model ${models[v.model].manifest.name}@${models[v.model].manifest.version}`, fields: { benchmark: BENCHMARK, manifest: JSON.stringify(models[v.model].manifest) }, fileField: 'model', filePath: models[v.model].modelPath };
    say(`\n${v.org}: submitting its ${upload.label}`);
    try {
      const submission = await v.client.uploadMultipart<{ id: string; status: string; sha256: string }>(upload.path, { fields: upload.fields, fileField: upload.fileField, filePath: upload.filePath });
      say(`  submission ${submission.id} ${submission.status} (sha256 ${submission.sha256.slice(0, 12)}); sample pre-flight, then the held-out test split:`);
      await followSubmission(v.client, submission.id, say);
    } catch (error) {
      if (error instanceof ApiError && error.status === 429) say(`  ${error.message}: its earlier submissions stay on the leaderboard`);
      else throw error;
    }
  }

  const board = await admin.get<LeaderboardView>(`/api/benchmarks/${BENCHMARK}/leaderboard?phase=test`);
  say(`\n${formatLeaderboard(board)}`);

  // Imaging: a vendor's ONNX segmentation model (fixed convolutions, scripts/reference-models/image-models.ts) on the
  // SYNTHETIC lesion phantoms: 3-D volumes in, masks out, Dice and NSD with CIs on the held-out split.
  const imaging = { org: 'Demo Vendor D (imaging, ONNX segmentation)', email: 'vendor-d@demo.assay.local' };
  const imagingClient = admin.withToken(await ensureVendor(admin, { ...imaging, model: 'logreg' }));
  const segDir = join(stateDir, 'demo', 'models', 'lesion-seg');
  const seg = lesionSegmentationModel();
  await writeImageModel(segDir, seg);
  say(`\n${imaging.org}: submitting its ONNX model ${seg.manifest.name}@${seg.manifest.version} to ${IMAGING_BENCHMARK} (SYNTHETIC CT phantoms)`);
  try {
    const submission = await imagingClient.uploadMultipart<{ id: string; status: string; sha256: string }>('/api/submissions', {
      fields: { benchmark: IMAGING_BENCHMARK, manifest: JSON.stringify(seg.manifest) },
      fileField: 'model',
      filePath: join(segDir, 'model.onnx'),
    });
    say(`  submission ${submission.id} ${submission.status} (sha256 ${submission.sha256.slice(0, 12)}); sample pre-flight, then the held-out test split:`);
    await followSubmission(imagingClient, submission.id, say);
  } catch (error) {
    if (error instanceof ApiError && error.status === 429) say(`  ${error.message}: its earlier submissions stay on the leaderboard`);
    else throw error;
  }
  const imagingBoard = await admin.get<LeaderboardView>(`/api/benchmarks/${IMAGING_BENCHMARK}/leaderboard?phase=test`);
  say(`\n${formatLeaderboard(imagingBoard)}`);

  // Federation (issue 11): the same model evaluated at two hospital nodes, pooled at the hub.
  await federationStep({ admin, vendor: (vendors[0] as (typeof vendors)[number]).client, api, stateDir, model: models.logreg, say });

  // The signed validation report of Vendor A's held-out run (made by the worker when the run was scored): a regulator
  // granted the benchmark downloads it, and `assay verify` checks it offline against Assay's published keys; a copy
  // with one figure changed fails.
  await reportStep(admin, api, join(stateDir, 'demo', 'reports'));
  say(`demo finished in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  say(`API:      ${api}  (OpenAPI docs: ${api}/docs)`);
  say(`tokens:   admin in ${join(stateDir, 'admin-token')}, vendor A in ${join(stateDir, 'token')}`);
  say(`try:      curl -H "Authorization: Bearer $(cat ${join(stateDir, 'admin-token')})" ${api}/api/benchmarks/${BENCHMARK}/leaderboard`);
  say(`web:      ${api}/ (sign in with a token above)`);
}

async function reportStep(admin: AssayClient, api: string, dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const email = 'regulator@demo.assay.local';
  let user = (await admin.get<{ id: string }[]>(`/api/users?email=${encodeURIComponent(email)}`))[0];
  user ??= await admin.post<{ id: string }>('/api/users', { email, displayName: 'Demo notified body', role: 'regulator' });
  const regulator = admin.withToken((await admin.post<{ token: string }>(`/api/users/${user.id}/tokens`, { label: 'demo' })).token);
  const grants = await admin.get<{ regulatorUserId: string; benchmarkId: string | null; revokedAt: string | null }[]>('/api/grants');
  if (!grants.some((g) => g.regulatorUserId === user.id && g.revokedAt === null && g.benchmarkId)) await admin.post('/api/grants', { regulatorEmail: email, benchmark: BENCHMARK, note: 'demo' });
  const subs = await admin.get<{ id: string; name: string }[]>('/api/submissions');
  const deadline = Date.now() + 180_000;
  let report: { id: string; phase: string; audience: string; evidenceSha256: string; keyId: string } | undefined;
  while (!report && Date.now() < deadline) {
    const list = await regulator.get<{ id: string; phase: string; audience: string; submissionId: string; evidenceSha256: string; keyId: string; createdAt: string }[]>('/api/reports');
    const mine = list.filter((r) => r.phase === 'test' && r.audience === 'full' && subs.some((s) => s.id === r.submissionId && s.name.startsWith('wdbc-logreg@')));
    report = mine.sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1))[0];
    if (!report) await new Promise((r) => setTimeout(r, 2000));
  }
  if (!report) {
    say('\nvalidation report: not generated within 3 minutes (see the worker log)');
    return;
  }
  say(`\nvalidation report ${report.id} (held-out phase, full form), evidence sha256 ${report.evidenceSha256.slice(0, 16)}…, signed by ${report.keyId}`);
  for (const file of ['evidence.json', 'report.html', 'report.pdf']) {
    const bytes = await regulator.getBytes(`/api/reports/${report.id}/${file}`);
    writeFileSync(join(dir, file), bytes);
  }
  say(`  downloaded as the granted regulator to ${dir}/{evidence.json,report.html,report.pdf}`);
  const keys = join(dir, 'keys.json');
  writeFileSync(keys, JSON.stringify(await regulator.get('/api/reports/keys')));
  for (const file of ['report.pdf', 'report.html']) {
    const result = await verifyFile({ file: join(dir, file), keysFile: keys }, () => undefined);
    say(`  assay verify ${file} --keys keys.json: ${result.valid ? 'VALID' : 'INVALID'} (${result.checks.length} checks)`);
  }
  const text = readFileSync(join(dir, 'evidence.json'), 'utf8');
  const tampered = text.replace(/"casesTotal":(\d+)/, (_m, n: string) => `"casesTotal":${Number(n) + 1}`);
  writeFileSync(join(dir, 'evidence-tampered.json'), tampered);
  const bad = await verifyFile({ file: join(dir, 'evidence-tampered.json'), keysFile: keys }, () => undefined);
  const failed = bad.checks.filter((c) => !c.ok).map((c) => c.name);
  say(`  the same record with casesTotal changed by one: ${bad.valid ? 'VALID (unexpected!)' : `INVALID (${failed.join(', ')})`}`);
  say(`  report page: ${api}/reports/${report.id}`);
}

main().catch((error: unknown) => {
  process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
