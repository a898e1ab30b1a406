import { describe, expect, it } from 'vitest';
import { HiveLifecycle, HookError } from './lifecycle.js';

describe('HiveLifecycle', () => {
  const timeouts = { startMs: 1000, stopMs: 1000 };

  it('starts hooks in order and stops them in reverse', async () => {
    const lc = new HiveLifecycle(timeouts);
    const log: string[] = [];
    for (const m of ['a', 'b', 'c']) {
      lc.scoped(`agent.${m}`).append({
        onStart: () => void log.push(`start ${m}`),
        onStop: () => void log.push(`stop ${m}`),
      });
    }
    await lc.start();
    await lc.stop();
    expect(log).toEqual(['start a', 'start b', 'start c', 'stop c', 'stop b', 'stop a']);
  });

  it('rolls back what started when a start hook fails, and names the module', async () => {
    const lc = new HiveLifecycle(timeouts);
    const log: string[] = [];
    lc.scoped('agent.a').append({
      onStart: () => void log.push('start a'),
      onStop: () => void log.push('stop a'),
    });
    lc.scoped('agent.b').append({
      onStart: () => void log.push('start b'),
      onStop: () => void log.push('stop b'),
    });
    lc.scoped('agent.bad').append(
      {
        onStart: () => {
          throw new Error('port busy');
        },
        onStop: () => void log.push('stop bad'),
      },
      'listener',
    );
    lc.scoped('agent.d').append({ onStart: () => void log.push('start d') });
    const err = await lc.start().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HookError);
    expect((err as HookError).message).toBe(
      "start hook 'listener' of module agent.bad failed: port busy",
    );
    expect(log).toEqual(['start a', 'start b', 'stop b', 'stop a']);
    expect(lc.running).toBe(false);
  });

  it('times out a stuck start hook, aborting its signal', async () => {
    const lc = new HiveLifecycle({ startMs: 50, stopMs: 50 });
    let aborted = false;
    lc.scoped('agent.slow').append({
      onStart: ({ signal }) =>
        new Promise<void>((resolve) => {
          signal.addEventListener('abort', () => {
            aborted = true;
            resolve();
          });
        }),
    });
    await expect(lc.start()).rejects.toThrow(/module agent.slow failed: timed out after 50 ms/);
    expect(aborted).toBe(true);
  });

  it('times out a stuck stop hook and still stops the others', async () => {
    const lc = new HiveLifecycle({ startMs: 1000, stopMs: 50 });
    const log: string[] = [];
    lc.scoped('agent.a').append({ onStop: () => void log.push('stop a') });
    lc.scoped('agent.stuck').append({ onStop: () => new Promise<void>(() => undefined) });
    lc.scoped('agent.c').append({ onStop: () => void log.push('stop c') });
    await lc.start();
    await expect(lc.stop()).rejects.toThrow(
      "stop hook 'stuck' of module agent.stuck failed: timed out after 50 ms",
    );
    expect(log).toEqual(['stop c', 'stop a']);
  });

  it('collects every failing stop hook', async () => {
    const lc = new HiveLifecycle(timeouts);
    for (const m of ['x', 'y']) {
      lc.scoped(`agent.${m}`).append({
        onStop: () => {
          throw new Error(`${m} broke`);
        },
      });
    }
    await lc.start();
    const err = await lc.stop().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AggregateError);
    expect((err as AggregateError).errors).toHaveLength(2);
  });
});
