import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { parseKeysDocument, PublicKeyInfo } from '../reports/signing/ed25519';
import { keyLookupOf, VerifyResult, verifyReport } from '../reports/signing/verify';
import { AssayClient } from './api-client';

/**
 * `assay verify <file>`: checks an evidence.json, report.html or report.pdf offline against a keys file (as
 * GET /api/reports/keys serves it), or against the keys the API publishes. Prints every check; true when valid.
 */
export async function verifyFile(input: { file: string; keysFile?: string; client?: AssayClient }, print: (line: string) => void): Promise<VerifyResult> {
  const bytes = readFileSync(input.file);
  let keys: PublicKeyInfo[];
  if (input.keysFile) keys = parseKeysDocument(readFileSync(input.keysFile, 'utf8'));
  else if (input.client) keys = parseKeysDocument(JSON.stringify(await input.client.get<unknown>('/api/reports/keys')));
  else throw new Error('no keys: pass --keys <keys.json> or --api <url>');
  const result = await verifyReport(bytes, keyLookupOf(keys));
  print(`${input.file}: ${result.format} report ${result.reportId ?? '(unknown)'}, evidence ${result.evidenceSha256 ?? '(none)'}, key ${result.keyId ?? '(none)'}`);
  for (const check of result.checks) print(`  ${check.ok ? 'ok  ' : 'FAIL'} ${check.name}: ${check.detail}`);
  print(result.valid ? 'VALID' : 'INVALID');
  return result;
}

export function registerVerifyCommand(program: Command): void {
  program
    .command('verify')
    .description('verify a validation report (evidence.json, report.html or report.pdf): hashes, signatures and seal; exit 0 valid, 1 invalid')
    .argument('<file>')
    .option('--keys <keys.json>', 'published keys as GET /api/reports/keys serves them (offline)')
    .option('--api <url>', 'fetch the published keys from this Assay API', 'http://127.0.0.1:3000')
    .action(async (file: string, opts: { keys?: string; api: string }) => {
      const result = await verifyFile({ file, ...(opts.keys ? { keysFile: opts.keys } : { client: new AssayClient(opts.api.replace(/\/$/, '')) }) }, (line) => process.stdout.write(`${line}\n`));
      process.exitCode = result.valid ? 0 : 1;
    });
}
