import { SetMetadata } from '@nestjs/common';

export const ACCESS_KEY = 'assay:access';

/**
 * Who calls, in the authorization matrix (test/e2e/authz-matrix.e2e-spec.ts). The route's fixture resource (a
 * submission, its held-out run, its benchmark with a hidden `test` leaderboard) belongs to `vendor`'s organisation;
 * `vendorOther` is another vendor organisation; `regulatorGranted` holds a grant on the fixture benchmark, `regulator`
 * none.
 */
export const MATRIX_CALLERS = ['anonymous', 'vendor', 'vendorOther', 'evaluator', 'regulator', 'regulatorGranted', 'admin'] as const;
export type MatrixCaller = (typeof MATRIX_CALLERS)[number];

/** '2xx': allowed; 401: no identity; 403: role refused; 404: refused by hiding that the resource exists. */
export type Outcome = '2xx' | '401' | '403' | '404';
export type AccessTable = Record<MatrixCaller, Outcome>;

/** The expected outcome of this route for every caller: the matrix test enumerates Nest's routes and demands one. */
export const Access = (table: AccessTable): MethodDecorator => SetMetadata(ACCESS_KEY, table);

/** Common rows, spelt out so each route's table reads at a glance. */
export const EVERY_ROLE: AccessTable = { anonymous: '401', vendor: '2xx', vendorOther: '2xx', evaluator: '2xx', regulator: '2xx', regulatorGranted: '2xx', admin: '2xx' };
export const STAFF_ONLY: AccessTable = { anonymous: '401', vendor: '403', vendorOther: '403', evaluator: '2xx', regulator: '403', regulatorGranted: '403', admin: '2xx' };
export const ADMIN_ONLY: AccessTable = { anonymous: '401', vendor: '403', vendorOther: '403', evaluator: '403', regulator: '403', regulatorGranted: '403', admin: '2xx' };
export const VENDOR_ONLY: AccessTable = { anonymous: '401', vendor: '2xx', vendorOther: '2xx', evaluator: '403', regulator: '403', regulatorGranted: '403', admin: '403' };
/** The fixture resource: its owner, staff and a granted regulator read it; everyone else is told it does not exist. */
export const OWNER_STAFF_GRANTED: AccessTable = { anonymous: '401', vendor: '2xx', vendorOther: '404', evaluator: '2xx', regulator: '404', regulatorGranted: '2xx', admin: '2xx' };
