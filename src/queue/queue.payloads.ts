import { plainToInstance } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsIn, IsOptional, IsUUID, validateSync } from 'class-validator';
import { JobName } from './queue.constants';

export class SubmissionJobPayload {
  @IsUUID() submissionId!: string;
}

export class RunJobPayload {
  @IsUUID() runId!: string;
}

export class ReportJobPayload {
  @IsUUID() runId!: string;
  @IsIn(['full', 'vendor']) audience!: 'full' | 'vendor';
  /** Submission ids to compare against (paired tests), as the evaluator chose them. */
  @IsOptional() @IsArray() @ArrayMaxSize(10) @IsUUID('all', { each: true }) comparators?: string[];
  /** Who asked (null: generated when the run succeeded). */
  @IsOptional() @IsUUID() actorUserId?: string;
}

export interface JobPayloads {
  [JobName.CheckSubmission]: SubmissionJobPayload;
  [JobName.ExecuteRun]: RunJobPayload;
  [JobName.ScoreRun]: RunJobPayload;
  [JobName.GenerateReport]: ReportJobPayload;
}

const PAYLOAD_CLASS: { [K in JobName]: new () => JobPayloads[K] } = {
  [JobName.CheckSubmission]: SubmissionJobPayload,
  [JobName.ExecuteRun]: RunJobPayload,
  [JobName.ScoreRun]: RunJobPayload,
  [JobName.GenerateReport]: ReportJobPayload,
};

/** Payloads outlive deploys: they are validated again when consumed. */
export function parsePayload<K extends JobName>(name: K, data: unknown): JobPayloads[K] {
  const payload = plainToInstance(PAYLOAD_CLASS[name], data ?? {}) as JobPayloads[K];
  const errors = validateSync(payload as object, { whitelist: true, forbidNonWhitelisted: true });
  if (errors.length > 0) {
    throw new Error(`job ${name}: invalid payload: ${errors.map((e) => `${e.property}: ${Object.values(e.constraints ?? {}).join(', ')}`).join('; ')}`);
  }
  return payload;
}
