/**
 * What identifies one rebuild of a leaderboard, from any process, as SQL over a `leaderboard_snapshots` row aliased
 * `alias`: the row's inserting transaction (each rebuild deletes and inserts it, in the transaction that replaces the
 * entries) and its computation time. The serialized views (leaderboard-views.ts) are kept under it. Read with the
 * board (LeaderboardsRepository.findBoard) and, on every read, with the benchmark (BenchmarksService.resolveCurrent).
 */
export const snapshotStampSql = (alias: string): string => `${alias}.xmin::text || '/' || (extract(epoch FROM ${alias}.computed_at) * 1000000)::bigint::text`;
