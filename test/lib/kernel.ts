// Gate for tests that need the real kernel: root, bpftrace and tracefs. They skip with the
// reason elsewhere; in CI (CI=true) a missing requirement fails instead, so kernel tests
// cannot silently stop running. Each kernel test that runs is logged to
// $TCPSCOPE_KERNEL_TEST_LOG so .ci/run can print how many ran.
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync } from 'node:fs';
import { test, type TestContext } from 'node:test';

let cached: string | null | undefined;

/** Why kernel tests cannot run here, or null when they can. */
export function kernelSkipReason(): string | null {
  if (cached !== undefined) return cached;
  cached = null;
  if (process.platform !== 'linux') cached = 'not Linux';
  else if (process.getuid?.() !== 0) cached = 'needs root (bpftrace, network namespaces, nftables)';
  else {
    try {
      execFileSync('bpftrace', ['--version'], { stdio: 'ignore' });
    } catch {
      cached = 'bpftrace is not installed (npm run setup installs it)';
    }
    if (!cached && !existsSync('/sys/kernel/tracing/events') && !existsSync('/sys/kernel/debug/tracing/events'))
      cached = 'tracefs is not mounted (mount -t tracefs tracefs /sys/kernel/tracing)';
  }
  return cached;
}

/** A test that runs only with root + bpftrace + tracefs (and must run in CI). */
export function kernelTest(name: string, fn: (t: TestContext) => Promise<void>, timeoutMs = 180_000): void {
  const reason = kernelSkipReason();
  if (reason && process.env.CI === 'true') {
    test(`[kernel] ${name}`, () => {
      throw new Error(`kernel test cannot run in CI: ${reason}`);
    });
    return;
  }
  test(`[kernel] ${name}`, { skip: reason ?? false, timeout: timeoutMs }, async (t) => {
    const log = process.env.TCPSCOPE_KERNEL_TEST_LOG;
    if (log) appendFileSync(log, `${name}\n`);
    await fn(t);
  });
}
