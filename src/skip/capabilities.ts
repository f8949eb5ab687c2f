// GET /capabilities, draft-cisco-skip-02 §4.1 (schema: Figure 3).

import type { Reply } from '../http/respond.js';
import { parseQuery } from '../http/query.js';
import type { SkipRequest } from '../http/routes.js';
import type { SkipDeps } from './deps.js';

export function capabilities(deps: SkipDeps, req: SkipRequest): Reply {
  parseQuery(req.query, [], 'GET /capabilities');
  return {
    status: 200,
    body: {
      entropy: true,
      key: true,
      algorithm: deps.config.algorithm,
      localSystemID: deps.config.localSystemID,
      remoteSystemID: deps.remotes.ids(),
    },
  };
}
