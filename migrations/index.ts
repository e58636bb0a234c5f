import { Init1763870000000 } from './1763870000000-init';
import { LeaderboardRobustness1763880000000 } from './1763880000000-leaderboard-robustness';
import { CrashSafety1764500000000 } from './1764500000000-crash-safety';

/** Every migration, in order. Never edit one that has landed: add a new one. */
export const MIGRATIONS = [Init1763870000000, LeaderboardRobustness1763880000000, CrashSafety1764500000000];
