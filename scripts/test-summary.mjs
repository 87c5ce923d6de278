// Prints the plain closing line `N passed, N failed[, N skipped]` from vitest's JSON reports (summed).
import { readFileSync } from 'node:fs';

const files = process.argv.slice(2);
if (files.length === 0) files.push('.tmp/vitest-report.json');
let passed = 0;
let failed = 0;
let skipped = 0;
for (const file of files) {
  try {
    const r = JSON.parse(readFileSync(file, 'utf8'));
    passed += r.numPassedTests ?? 0;
    // A file that failed to load (a throw at import or in beforeAll) may have no failed test: count its suites then.
    failed += (r.numFailedTests ?? 0) > 0 ? r.numFailedTests : (r.numFailedTestSuites ?? 0);
    skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  } catch (err) {
    failed += 1;
    console.error(`no test report at ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
}
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
