import { AuditEntryEntity } from '../audit/audit.entity';
import { ApiTokenEntity, OrganisationEntity, UserEntity } from '../auth/auth.entity';
import { BenchmarkEntity, BenchmarkPhaseEntity, BenchmarkVersionEntity } from '../benchmarks/benchmarks.entity';
import { CohortCaseEntity, CohortEntity, CohortVersionEntity } from '../cohorts/cohorts.entity';
import { EvaluationResultEntity, RunEntity, RunPredictionEntity } from '../runs/evaluation.entity';
import { AccessGrantEntity } from '../grants/grants.entity';
import { WorkerEntity } from '../health/health.entity';
import { NodeCohortEntity, NodeEntity, NodeJobEntity, NodeKeyEntity } from '../federation/nodes.entity';
import { LeaderboardEntryEntity, LeaderboardSnapshotEntity } from '../leaderboards/leaderboards.entity';
import { ReportSigningKeyEntity } from '../reports/signing/report-keys.entity';
import { SubmissionEntity } from '../submissions/submissions.entity';
import { ValidationReportEntity } from '../reports/reports.entity';

export const ENTITIES = [
  OrganisationEntity,
  UserEntity,
  ApiTokenEntity,
  AuditEntryEntity,
  CohortEntity,
  CohortVersionEntity,
  CohortCaseEntity,
  BenchmarkEntity,
  BenchmarkVersionEntity,
  BenchmarkPhaseEntity,
  SubmissionEntity,
  RunEntity,
  RunPredictionEntity,
  EvaluationResultEntity,
  LeaderboardEntryEntity,
  LeaderboardSnapshotEntity,
  WorkerEntity,
  AccessGrantEntity,
  ReportSigningKeyEntity,
  ValidationReportEntity,
  NodeEntity,
  NodeKeyEntity,
  NodeCohortEntity,
  NodeJobEntity,
];
