// Prints the plain closing line `N passed, N failed[, N skipped]` from vitest's JSON report.
import { readFileSync } from 'node:fs';

const file = process.argv[2] ?? '.tmp/vitest-report.json';
try {
  const r = JSON.parse(readFileSync(file, 'utf8'));
  const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed${skipped ? `, ${skipped} skipped` : ''}`);
} catch (err) {
  console.log('0 passed, 1 failed');
  console.error(`no test report at ${file}: ${err instanceof Error ? err.message : String(err)}`);
}
