/** The public API surface: each entry point's exports equal the checked-in report (api/*.api.txt). */
import * as fs from 'fs';
import * as path from 'path';
import { apiReports } from '../scripts/api-report';

const reports = apiReports();

describe('API report', () => {
  test.each(Object.keys(reports))('%s exports exactly what api/%s.api.txt lists (run npm run api:update after an intended change)', (entry) => {
    const checkedIn = fs.readFileSync(path.join(__dirname, '..', 'api', `${entry}.api.txt`), 'utf8');
    expect(reports[entry]).toBe(checkedIn);
  });

  test('no internal helper is public', () => {
    const internals = ['checkDnsName', 'isZero', 'show', 'sizeQuantity', 'fmtG', 'renderTemplate', 'promString', 'RENDER_CONFIG_SCRIPT',
      'NOTIFY_TOKEN_PLACEHOLDER', 'checkIntOrPercent', 'checkPositive', 'humanizeDuration', 'objectLabels', 'promMatchers', 'findSchemaModel',
      'Planner', 'UpdateRunner', 'LoopContext', 'requirePeer', 'renderAgentConfig'];
    for (const text of Object.values(reports)) {
      const names = text.split('\n').filter((l) => !l.startsWith('#') && l).map((l) => l.split(':')[0]);
      expect(names.filter((n) => internals.includes(n))).toEqual([]);
    }
  });
});
