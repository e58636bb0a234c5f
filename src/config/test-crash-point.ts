/**
 * The chaos suite's kill point (ASSAY_TEST_CRASH_AT), read here because only config/ reads the environment. It is
 * read per call, not validated at boot: it exists only in test mode and names one point for one worker's life.
 */
export function testCrashPointSetting(): string | null {
  if (process.env.ASSAY_MODE !== 'test') return null;
  return process.env.ASSAY_TEST_CRASH_AT ?? null;
}
