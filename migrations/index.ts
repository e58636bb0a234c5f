import { Init1763870000000 } from './1763870000000-init';
import { LeaderboardRobustness1763880000000 } from './1763880000000-leaderboard-robustness';
import { AccessGrantsTokenExpiry1764700000000 } from './1764700000000-access-grants-token-expiry';

/** Every migration, in order. Never edit one that has landed: add a new one. */
export const MIGRATIONS = [Init1763870000000, LeaderboardRobustness1763880000000, AccessGrantsTokenExpiry1764700000000];
