// The cleanup stack: last deferred runs first, a failing step is reported and the rest still
// run, each step runs once, and concurrent unwinds share one run.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Cleanup, type CleanupFailure } from '../src/cleanup.js';

describe('Cleanup', () => {
  it('runs the steps last first, once, and reports a failing one without stopping the rest', async () => {
    const ran: string[] = [];
    const reported: CleanupFailure[] = [];
    const c = new Cleanup((f) => reported.push(f));
    c.defer('a', () => void ran.push('a'));
    c.defer('b', () => Promise.reject(new Error('b broke')));
    c.defer('c', async () => {
      await new Promise((r) => setTimeout(r, 5));
      ran.push('c');
    });
    const [first, second] = await Promise.all([c.unwind(), c.unwind()]);
    assert.deepEqual(ran, ['c', 'a']);
    assert.equal(first, second);
    assert.deepEqual(
      first.map((f) => [f.step, (f.error as Error).message]),
      [['b', 'b broke']],
    );
    assert.deepEqual(reported, first);
    assert.deepEqual(await c.unwind(), []);
    assert.deepEqual(ran, ['c', 'a']);
  });

  it('fail() unwinds and throws the cause, not a failing step', async () => {
    const c = new Cleanup();
    let undone = false;
    c.defer('first', () => void (undone = true));
    c.defer('second', () => {
      throw new Error('step');
    });
    await assert.rejects(c.fail(new Error('cause')), /^Error: cause$/);
    assert.ok(undone);
  });
});
