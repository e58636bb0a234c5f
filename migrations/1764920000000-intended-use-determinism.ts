import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Two inputs of the validation report (issue 10): the intended use a vendor declares with its upload (immutable, as
 * sent; NULL when none was declared and for submissions from before this column), and a run's determinism check (a
 * seeded sample of its cases re-run in one extra sandbox batch; NULL when not checked: public phases, older runs).
 */
export class IntendedUseDeterminism1764920000000 implements MigrationInterface {
  name = 'IntendedUseDeterminism1764920000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE submissions ADD COLUMN intended_use jsonb');
    // Immutable after upload, in the database too: no code path, nor a hand-written UPDATE, changes what was declared.
    await q.query(`CREATE FUNCTION submissions_intended_use_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'submissions.intended_use is immutable after upload'; END $$`);
    await q.query(`CREATE TRIGGER submissions_intended_use_no_update BEFORE UPDATE OF intended_use ON submissions
      FOR EACH ROW WHEN (OLD.intended_use IS DISTINCT FROM NEW.intended_use) EXECUTE FUNCTION submissions_intended_use_immutable()`);
    await q.query('ALTER TABLE runs ADD COLUMN determinism jsonb');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE runs DROP COLUMN determinism');
    await q.query('DROP TRIGGER submissions_intended_use_no_update ON submissions');
    await q.query('DROP FUNCTION submissions_intended_use_immutable');
    await q.query('ALTER TABLE submissions DROP COLUMN intended_use');
  }
}
