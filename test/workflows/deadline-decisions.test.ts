/** Deadlines as a user writes them (`--deadline`), and whether one leaves room to speculate. */
import { AdmissionError, resolveDeadline } from '../../client/tasks';
import { claimWindowOpen } from '../../workflows/task-decisions';

const NOW = Date.parse('2026-12-05T10:00:00.000Z');

describe('resolveDeadline', () => {
  test.each([
    ['90s', '2026-12-05T10:01:30.000Z'],
    ['5m', '2026-12-05T10:05:00.000Z'],
    ['2h', '2026-12-05T12:00:00.000Z'],
    ['1 week', '2026-12-12T10:00:00.000Z'],
    ['2026-12-05T18:00:00Z', '2026-12-05T18:00:00.000Z'],
    ['2026-12-05T11:30:00+01:00', '2026-12-05T10:30:00.000Z'],
  ])('%s → %s', (given, expected) => {
    expect(resolveDeadline(given, NOW)).toBe(expected);
  });

  test.each([
    ['tomorrow', /neither an ISO time .* nor a duration/],
    ['2026-13-45T00:00:00Z', /neither an ISO time/],
    ['2026-12-05T09:00:00Z', /already past .*now 2026-12-05T10:00:00.000Z/],
    ['0s', /not a positive duration/],
  ])('refuses %s, naming the field', (given, message) => {
    let err: unknown;
    try {
      resolveDeadline(given, NOW);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AdmissionError);
    expect(err).toMatchObject({ field: 'deadline', code: 'invalid_deadline' });
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).toContain(`"${given}"`);
  });
});

describe('claimWindowOpen', () => {
  test.each([
    [undefined, 30_000, true, 'no deadline: always'],
    ['2026-12-05T10:01:00.000Z', 30_000, true, '60 s left, 30 s buffer'],
    ['2026-12-05T10:00:30.000Z', 30_000, false, 'exactly the buffer left'],
    ['2026-12-05T10:00:20.000Z', 30_000, false, '20 s left'],
    ['2026-12-05T09:59:00.000Z', 0, false, 'already past'],
    ['2026-12-05T10:00:00.001Z', 0, true, 'any time left with no buffer'],
  ])('%s, buffer %d ms → %s (%s)', (deadline, buffer, open, _why) => {
    expect(claimWindowOpen(deadline, NOW, buffer)).toBe(open);
  });
});
