import { describe, expect, it } from 'vitest';
import { configFromArgv } from '../../src/config/from-argv.js';
import { ConfigError } from '../../src/core/errors.js';

describe('the proxy\'s timeout flags', () => {
  it('--upstream-timeout-ms and --upstream-idle-timeout-ms set proxy.upstreamTimeoutMs and proxy.upstreamIdleTimeoutMs', () => {
    const { loaded } = configFromArgv(['--upstream-timeout-ms', '5000', '--upstream-idle-timeout-ms=0'], { env: {} });
    expect(loaded.config.proxy.upstreamTimeoutMs).toBe(5000);
    expect(loaded.config.proxy.upstreamIdleTimeoutMs).toBe(0);
  });

  it('their environment variables work as every flag\'s do', () => {
    const { loaded } = configFromArgv([], { env: { INFERWATT_UPSTREAM_TIMEOUT_MS: '7000', INFERWATT_UPSTREAM_IDLE_TIMEOUT_MS: '9000' } });
    expect(loaded.config.proxy.upstreamTimeoutMs).toBe(7000);
    expect(loaded.config.proxy.upstreamIdleTimeoutMs).toBe(9000);
  });

  it('a bad value is a configuration error', () => {
    let problems: readonly string[] = [];
    try {
      configFromArgv(['--upstream-timeout-ms', 'soon', '--upstream-idle-timeout-ms', '-1'], { env: {} });
    } catch (err) {
      if (err instanceof ConfigError) problems = err.problems;
    }
    expect(problems.join('\n')).toMatch(/upstream-timeout-ms.*soon/);
    expect(problems.join('\n')).toMatch(/upstreamIdleTimeoutMs/);
  });
});
