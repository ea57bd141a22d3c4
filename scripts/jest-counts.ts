import { readFileSync } from 'node:fs';

/**
 * Passed and failed tests from a jest run's `--json --outputFile` results, as `npm test` and
 * `npm run test:fast` count them for their `N passed, N failed` line.
 */
export function jestCounts(resultsFile: string): { passed: number; failed: number } {
  try {
    const summary = JSON.parse(readFileSync(resultsFile, 'utf8')) as {
      numPassedTests: number;
      numFailedTests: number;
      numRuntimeErrorTestSuites: number;
    };
    // A suite that could not run (a syntax error, a failing beforeAll) has no test results: count it as a failure.
    return { passed: summary.numPassedTests, failed: summary.numFailedTests + summary.numRuntimeErrorTestSuites };
  } catch {
    process.stderr.write('jest wrote no results (it crashed before running tests)\n');
    return { passed: 0, failed: 1 };
  }
}
