import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Federation (issue 11): data-provider nodes, their public keys (a rotated key stays, retired, so the results it
 * signed stay verifiable), the cohorts they host (metadata only), and the jobs the hub leases to them.
 */
export class FederationNodes1764950000000 implements MigrationInterface {
  name = 'FederationNodes1764950000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE nodes (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      name text NOT NULL UNIQUE,
      enabled boolean NOT NULL DEFAULT true,
      declared_policy jsonb,
      reported_policy jsonb,
      last_seen_at timestamptz,
      latency_ms integer CHECK (latency_ms IS NULL OR latency_ms >= 0),
      heartbeat_interval_ms integer CHECK (heartbeat_interval_ms IS NULL OR heartbeat_interval_ms > 0),
      versions jsonb NOT NULL DEFAULT '{}',
      runtimes jsonb NOT NULL DEFAULT '[]',
      gpus jsonb NOT NULL DEFAULT '[]',
      queue_depth integer CHECK (queue_depth IS NULL OR queue_depth >= 0),
      reported_cohorts jsonb NOT NULL DEFAULT '[]',
      created_by uuid REFERENCES users(id),
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    )`);
    await q.query(`COMMENT ON COLUMN nodes.declared_policy IS 'the policy an admin wrote down at registration (what the hospital agreed to); informative'`);
    await q.query(`COMMENT ON COLUMN nodes.reported_policy IS 'the policy the node enforces, as its last heartbeat reported it'`);
    await q.query(`COMMENT ON COLUMN nodes.latency_ms IS 'round trip of the node''s previous heartbeat, as the node measured it (ms)'`);
    await q.query(`COMMENT ON COLUMN nodes.heartbeat_interval_ms IS 'the node''s heartbeat interval (ms): offline after three missed beats'`);

    await q.query(`CREATE TABLE node_keys (
      key_id text PRIMARY KEY CHECK (key_id ~ '^ed25519-[0-9a-f]{16}$'),
      node_id uuid NOT NULL REFERENCES nodes(id),
      public_key text NOT NULL UNIQUE CHECK (length(public_key) = 44),
      created_at timestamptz NOT NULL DEFAULT now(),
      retired_at timestamptz,
      CHECK (retired_at IS NULL OR retired_at >= created_at)
    )`);
    await q.query('CREATE UNIQUE INDEX node_keys_one_current ON node_keys (node_id) WHERE retired_at IS NULL');
    await q.query(`COMMENT ON COLUMN node_keys.public_key IS 'base64 of the raw 32-byte Ed25519 public key'`);
    await q.query(`COMMENT ON COLUMN node_keys.retired_at IS 'when a rotation replaced it: refused for requests from then on, still verifies the results it signed'`);

    await q.query(`CREATE TABLE node_cohorts (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      node_id uuid NOT NULL REFERENCES nodes(id),
      name text NOT NULL,
      version text NOT NULL,
      content_hash text NOT NULL CHECK (content_hash ~ '^[0-9a-f]{64}$'),
      case_counts jsonb NOT NULL,
      subgroup_counts jsonb NOT NULL,
      acquisition jsonb NOT NULL,
      registered_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (node_id, name, version)
    )`);
    await q.query(`COMMENT ON TABLE node_cohorts IS 'metadata only: no case, no file, no per-case field; counts under 10 are stored as the string ''< 10'''`);

    await q.query(`CREATE TABLE node_jobs (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      node_id uuid NOT NULL REFERENCES nodes(id),
      run_id uuid REFERENCES runs(id),
      idempotency_key text NOT NULL UNIQUE,
      kind text NOT NULL,
      payload jsonb NOT NULL,
      status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'leased', 'done')),
      attempt integer NOT NULL DEFAULT 1 CHECK (attempt >= 1),
      lease_token text,
      leased_at timestamptz,
      lease_expires_at timestamptz,
      outcome text CHECK (outcome IS NULL OR outcome IN ('succeeded', 'failed', 'refused-by-policy')),
      result jsonb,
      result_signature text,
      result_key_id text REFERENCES node_keys(key_id),
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      finished_at timestamptz,
      CHECK ((status = 'leased') = (lease_expires_at IS NOT NULL)),
      CHECK ((status = 'done') = (result IS NOT NULL AND result_signature IS NOT NULL AND result_key_id IS NOT NULL AND outcome IS NOT NULL))
    )`);
    await q.query(`CREATE INDEX node_jobs_queue ON node_jobs (node_id, created_at) WHERE status = 'queued'`);
    await q.query(`CREATE INDEX node_jobs_leases ON node_jobs (lease_expires_at) WHERE status = 'leased'`);
    await q.query('CREATE INDEX node_jobs_run ON node_jobs (run_id) WHERE run_id IS NOT NULL');
    await q.query(`COMMENT ON COLUMN node_jobs.idempotency_key IS 'the caller''s key: enqueueing the same key twice gives the same job'`);
    await q.query(`COMMENT ON COLUMN node_jobs.attempt IS 'which lease this is: an expired lease returns the job to the queue with attempt + 1, and a result must name the current attempt'`);
    await q.query(`COMMENT ON COLUMN node_jobs.lease_token IS 'random; names the lease handed out, so a result answers exactly that lease'`);
    await q.query(`COMMENT ON COLUMN node_jobs.result_signature IS 'the node''s Ed25519 signature (base64url) over assay-node-result-v1 + canonical JSON of {jobId, attempt, nodeId, result}; re-verifiable with result_key_id'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE node_jobs');
    await q.query('DROP TABLE node_cohorts');
    await q.query('DROP TABLE node_keys');
    await q.query('DROP TABLE nodes');
  }
}
