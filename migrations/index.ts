import { Init1763870000000 } from './1763870000000-init';

/** Every migration, in order. Never edit one that has landed: add a new one. */
export const MIGRATIONS = [Init1763870000000];
