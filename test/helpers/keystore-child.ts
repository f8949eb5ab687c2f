// Child process for the SIGKILL crash test: puts and takes forever on KS_PATH, printing each
// acknowledgement only after it happened (P = put durable, I = take issued, T = take returned).
import { randomBytes } from 'node:crypto';
import { writeSync } from 'node:fs';
import { masterKeyFromEnv } from '../../src/keystore/master-key.js';
import { FileKeyStore } from '../../src/keystore/store.js';
import type { KeyId } from '../../src/ids/key-id.js';
import type { SystemId } from '../../src/ids/system-id.js';

const say = (line: string): void => void writeSync(1, `${line}\n`);
const BOB = 'bob' as SystemId;

const { store } = await FileKeyStore.open({
  path: process.env.KS_PATH!,
  master: masterKeyFromEnv(),
  ttlMs: 3_600_000,
});
const acked: KeyId[] = [];
say('ready');

async function worker(): Promise<never> {
  for (;;) {
    if (acked.length > 4 && Math.random() < 0.4) {
      const k = acked.splice(Math.floor(Math.random() * acked.length), 1)[0]!;
      say(`I ${k}`);
      const r = await store.take(k, BOB);
      if (r.kind === 'ok') say(`T ${k} ${r.key.toString('hex')}`);
    } else {
      const k = randomBytes(16).toString('hex') as KeyId;
      const key = randomBytes(32);
      await store.put(k, key, BOB);
      say(`P ${k} ${key.toString('hex')}`);
      acked.push(k);
    }
  }
}
await Promise.all(Array.from({ length: 8 }, worker));
