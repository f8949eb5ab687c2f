// `skip-server keystore stats`: what the keystore holds, never key material.

import { stat } from 'node:fs/promises';
import { FileKeyStore } from '../keystore/store.js';
import { openEtcdKeystore } from '../start/keystore.js';
import { masterKeyFromEnv, wipeMasterKey } from '../keystore/master-key.js';
import { CONFIG_OPTION, EXIT, readConfig, type Command } from './common.js';

export const keystoreStats: Command = {
  name: 'keystore stats',
  summary: 'What the keystore holds (slots, oldest key, damage); never key material.',
  synopsis: '--config FILE',
  about: `With keystore_backend etcd: keys held by every instance and delivered keyIds remembered.
Slots used and free, age of the oldest key, file size, damaged or replayed slots; never
key material. Needs the master key (KEYSTORE_MASTER_KEY_FILE); opens the keystore read-only,
so it can run beside a serving KP.`,
  options: { ...CONFIG_OPTION },
  async run(values, io) {
    const config = readConfig(values, 'keystore stats');
    const out = io.out;
    const master = masterKeyFromEnv();
    if (config.keystore_backend === 'etcd') {
      try {
        const store = await openEtcdKeystore(config, master, undefined, false);
        try {
          const st = await store.stats();
          out(`etcd ${config.etcd!.endpoints.join(',')} ${config.etcd!.prefix}\n`);
          out(`  held keys       ${st.held} (every instance's)\n`);
          out(`  delivered keyIds remembered ${st.delivered}\n`);
          return EXIT.ok;
        } finally {
          await store.close();
        }
      } finally {
        wipeMasterKey(master);
      }
    }
    // The loader requires keystore_path with the file backend.
    const path = config.keystore_path!;
    const { store, report } = await FileKeyStore.open({
      path,
      master,
      ttlMs: config.key_ttl_seconds * 1000,
      readOnly: true,
    });
    try {
      const st = store.stats((await stat(path)).size);
      const age = st.oldestAgeMs === null ? '-' : `${Math.round(st.oldestAgeMs / 1000)} s`;
      out(`${path}\n`);
      out(`  slots           ${st.slots} (${st.used} used, ${st.free} free)\n`);
      out(`  oldest key      ${age}\n`);
      out(`  file size       ${st.fileBytes} bytes\n`);
      if (report.corrupt.length > 0)
        out(`  corrupt slots   ${report.corrupt.join(', ')} (wiped at next start)\n`);
      if (report.expiredWiped > 0) out(`  expired         ${report.expiredWiped} (wiped at next start)\n`);
      if (report.replayed.length > 0)
        out(
          `  replayed slots  ${report.replayed.join(', ')} (keys already delivered; wiped at next start)\n`,
        );
      out(
        `  delivered keyIds remembered ${report.spent}${report.spentCorrupt > 0 ? ` (${report.spentCorrupt} damaged entries)` : ''}\n`,
      );
      return EXIT.ok;
    } finally {
      await store.close();
      wipeMasterKey(master);
    }
  },
};
