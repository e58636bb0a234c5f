import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A run of a federated phase (issue 11): where each node stands (job, status, waiting for an offline node) and the
 * deadline after which the evaluator decides. NULL for every run executed at the facility.
 */
export class FederatedRuns1764960000000 implements MigrationInterface {
  name = 'FederatedRuns1764960000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE runs ADD COLUMN federation jsonb');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE runs DROP COLUMN federation');
  }
}
