// Operations whose cell is not part of the agent answer 501 naming the cell (and, when the spec
// says which issue brings it with `x-cellium-issue`, that issue: no operation has one today).
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { apiCell, ApiServer } from '../cells/api/index.js';
import { apiRequest } from '../core/testing/api.js';
import { testHive } from '../core/testing/test-hive.js';
import { tempDir } from './support/procs.js';

describe('operations of future cells', () => {
  it.each([
    ['GET', '/node/ids', 'node'],
    ['GET', '/fqdn/names', 'fqdn'],
    ['GET', '/lrp', 'lrp'],
    ['GET', '/bgp/peers', 'bgp'],
    ['GET', '/bgp/route-policies', 'bgp'],
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
