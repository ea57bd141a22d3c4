/** The rollout bucket (shared/rollout-bucket.ts): monotonic in the percentage, and about the right share. */
import fc from 'fast-check';
import { inRollout } from '../../shared/rollout-bucket';

const taskId = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/);
const percentage = fc.double({ min: 0, max: 100, noNaN: true });

test('monotonic: a task inside the rollout at p% is inside at every q% >= p', () => {
  fc.assert(
    fc.property(taskId, percentage, percentage, (id, a, b) => {
      const [lo, hi] = a <= b ? [a, b] : [b, a];
      return !inRollout(id, lo) || inRollout(id, hi);
    }),
    { numRuns: 5000 },
  );
  // the ends
  fc.assert(fc.property(taskId, (id) => !inRollout(id, 0) && inRollout(id, 100)));
});

test('over 10,000 random ids the share inside is within ±1.5 points of the percentage', () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(taskId, { minLength: 10_000, maxLength: 10_000 }),
      fc.constantFrom(1, 5, 25, 50, 100, 12.5, 73),
      (ids, p) => {
        const share = (100 * ids.filter((id) => inRollout(id, p)).length) / ids.length;
        return Math.abs(share - p) <= 1.5;
      },
    ),
    { numRuns: 20 },
  );
});

test('task ids as the CLI makes them (10 hex characters) land in the rollout at the right share', () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.stringMatching(/^[0-9a-f]{10}$/), { minLength: 10_000, maxLength: 10_000 }),
      fc.double({ min: 0, max: 100, noNaN: true }),
      (ids, p) => {
        const share = (100 * ids.filter((id) => inRollout(id, p)).length) / ids.length;
        return Math.abs(share - p) <= 1.5;
      },
    ),
    { numRuns: 20 },
  );
});
