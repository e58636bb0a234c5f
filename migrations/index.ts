import { Init1763870000000 } from './1763870000000-init';
import { LeaderboardRobustness1763880000000 } from './1763880000000-leaderboard-robustness';
import { SubmissionObjectKeyIndex1764100000000 } from './1764100000000-submission-object-key-index';
import { HeldOutFeedback1764200000000 } from './1764200000000-held-out-feedback';
import { RunLogsBytes1764400000000 } from './1764400000000-run-logs-bytes';
import { CrashSafety1764500000000 } from './1764500000000-crash-safety';
import { AccessGrantsTokenExpiry1764700000000 } from './1764700000000-access-grants-token-expiry';
import { PerCaseResults1764800000000 } from './1764800000000-per-case-results';
import { ReportSigningKeys1764900000000 } from './1764900000000-report-signing-keys';
import { ValidationReports1764910000000 } from './1764910000000-validation-reports';
import { IntendedUseDeterminism1764920000000 } from './1764920000000-intended-use-determinism';
import { RunDrains1764930000000 } from './1764930000000-run-drains';
import { RunArtifactsCollected1764940000000 } from './1764940000000-run-artifacts-collected';
import { FederatedRuns1764960000000 } from './1764960000000-federated-runs';
import { FederationNodes1764950000000 } from './1764950000000-federation-nodes';
import { LeaderboardSites1764970000000 } from './1764970000000-leaderboard-sites';
import { NodeJobsCancelled1764980000000 } from './1764980000000-node-jobs-cancelled';
import { ReportEvidenceIndex1764990000000 } from './1764990000000-report-evidence-index';
import { ReportEvidenceIssued1765000000000 } from './1765000000000-report-evidence-issued';

/** Every migration, in order. Never edit one that has landed: add a new one. */
export const MIGRATIONS = [Init1763870000000, LeaderboardRobustness1763880000000, SubmissionObjectKeyIndex1764100000000, HeldOutFeedback1764200000000, RunLogsBytes1764400000000, CrashSafety1764500000000, AccessGrantsTokenExpiry1764700000000, PerCaseResults1764800000000, ReportSigningKeys1764900000000, ValidationReports1764910000000, IntendedUseDeterminism1764920000000, RunDrains1764930000000, RunArtifactsCollected1764940000000, FederationNodes1764950000000, FederatedRuns1764960000000, LeaderboardSites1764970000000, NodeJobsCancelled1764980000000, ReportEvidenceIndex1764990000000, ReportEvidenceIssued1765000000000];
