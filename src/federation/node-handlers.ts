import type { NodeJobHandler } from './node-agent';

/**
 * The job handlers a node runs, by kind. Empty until the evaluation handler lands (run fan-out, issue 11): until
 * then a node answers every accepted job with a signed 'failed: no handler' result.
 */
export const NODE_JOB_HANDLERS: NodeJobHandler[] = [];
