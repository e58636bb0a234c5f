import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A node job can be cancelled (issue 11): its run ended first (a vendor's fault at another node, the evaluator's
 * decision after the deadline). A cancelled job is never leased again; a result sent for it is refused as stale.
 */
export class NodeJobsCancelled1764980000000 implements MigrationInterface {
  name = 'NodeJobsCancelled1764980000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE node_jobs DROP CONSTRAINT node_jobs_status_check');
    await q.query(`ALTER TABLE node_jobs ADD CONSTRAINT node_jobs_status_check CHECK (status IN ('queued', 'leased', 'done', 'cancelled'))`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`UPDATE node_jobs SET status = 'queued' WHERE status = 'cancelled'`);
    await q.query('ALTER TABLE node_jobs DROP CONSTRAINT node_jobs_status_check');
    await q.query(`ALTER TABLE node_jobs ADD CONSTRAINT node_jobs_status_check CHECK (status IN ('queued', 'leased', 'done'))`);
  }
}
