// Which errors are a dependency outage (503, retry) rather than a bug (500).
import { isDependencyOutage } from '../../shared/errors';

test.each([
  [{ name: 'MongoNetworkError', message: 'connection closed' }, true],
  [{ name: 'MongoServerSelectionError', message: 'timed out' }, true],
  [{ name: 'MongooseServerSelectionError', message: 'timed out' }, true],
  [{ name: 'MongoServerError', message: 'database is locked (5) (SQLITE_BUSY)' }, true],
  [{ name: 'MongoServerError', message: 'E11000 duplicate key' }, false],
  [{ name: 'TypeError', message: 'x is undefined' }, false],
  [null, false],
  ['MongoNetworkError', false],
])('isDependencyOutage(%j) is %s', (err, expected) => {
  expect(isDependencyOutage(err)).toBe(expected);
});
