// Operations whose cell is not part of the agent answer 501 naming the cell and, when the spec
// says which issue brings it (`x-cellium-issue`), that issue.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { apiCell, ApiServer } from '../cells/api/index.js';
import { apiRequest } from '../core/testing/api.js';
import { testHive } from '../core/testing/test-hive.js';
import { tempDir } from './support/procs.js';

describe('operations of future cells', () => {
  it.each([
    ['GET', '/bgp/peers', 'bgp', 14],
    ['GET', '/bgp/route-policies', 'bgp', 14],
  ] as const)(
    '%s %s answers 501 naming the %s cell and issue %i',
    async (method, path, cell, issue) => {
      const h = testHive([apiCell], {
        flags: { 'socket-path': join(tempDir(), `api-${randomBytes(3).toString('hex')}.sock`) },
      });
      const { status, body } = await apiRequest(h.get(ApiServer).app, method, path);
      expect(status).toBe(501);
      expect(body).toBe(
        `${method} /v1${path.replace('/12', '/{id}')} is served by the '${cell}' cell, which is not part of this agent yet (it arrives with issue ${issue})`,
      );
    },
  );

  it.each([
    ['GET', '/node/ids', 'node'],
    ['GET', '/fqdn/names', 'fqdn'],
    ['GET', '/lrp', 'lrp'],
  ] as const)(
    'an operation without an issue in the spec (%s %s) says only which cell is missing',
    async (method, path, cell) => {
      const h = testHive([apiCell], {
        flags: { 'socket-path': join(tempDir(), `api-${randomBytes(3).toString('hex')}.sock`) },
      });
      const { status, body } = await apiRequest(h.get(ApiServer).app, method, path);
      expect(status).toBe(501);
      expect(body).toBe(
        `${method} /v1${path} is served by the '${cell}' cell, which is not part of this agent`,
      );
    },
  );
});
